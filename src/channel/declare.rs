//! Classes exchange and queue: declare, bind, unbind, purge, delete.

use super::{Channel, Context};
use crate::broker::BrokerError;
use crate::broker::access::{Access, ResourceKind};
use crate::broker::exchange::Destination;
use crate::broker::exchange::ExchangeKind;
use crate::broker::names;
use crate::broker::profile::Profile;
use crate::broker::queue::args::Refusal;
use crate::broker::vhost::{ExchangeDeclare as DeclareExchange, QueueDeclare as DeclareQueue};
use crate::error::{AmqpError, code};
use crate::protocol::FieldValue;
use crate::protocol::Method;
use crate::protocol::methods::*;

/// RabbitMQ's checks for binding and unbinding (`binding_action`): write on the destination,
/// read on the source, and the key against the user's topic permissions when the source is a
/// topic exchange. The default exchange is refused before any of them, by the vhost.
fn check_binding(
    ctx: &Context<'_>,
    source: &str,
    destination: (ResourceKind, &str),
    key: &str,
) -> Result<(), AmqpError> {
    if destination.0 == ResourceKind::Exchange && destination.1.is_empty() {
        return Ok(());
    }
    ctx.check(Access::Write, destination.0, destination.1)?;
    if source.is_empty() {
        return Ok(());
    }
    ctx.check(Access::Read, ResourceKind::Exchange, source)?;
    if let Ok(x) = ctx.vhost.exchange(source)
        && x.settings.kind == ExchangeKind::Topic
    {
        ctx.check_topic(Access::Read, source, key)?;
    }
    Ok(())
}

/// A text argument naming an exchange (alternate-exchange, x-dead-letter-exchange).
fn exchange_arg<'a>(args: &'a crate::protocol::FieldTable, key: &str) -> Option<&'a str> {
    args.get(key).and_then(FieldValue::as_str)
}

/// RabbitMQ's warning for a deprecated feature in phase `denied_by_default`
/// (`rabbit_deprecated_features`), the text of its 541.
fn denied_warning(feature: &str) -> String {
    format!(
        "Feature `{feature}` is deprecated.\n\
         By default, this feature is not permitted anymore.\n\
         The feature will be removed from a future major RabbitMQ version, regardless of the configuration; actual version to be determined.\n\
         To continue using this feature when it is not permitted by default, set the following parameter in your configuration:\n\
         \x20   \"deprecated_features.permit.{feature} = true\""
    )
}

/// RabbitMQ removes CR and LF from the names that declare, delete and bind take (not from
/// those of purge, get, consume or publish), so a name read from a file with its line end
/// still names the entity (`rabbit_channel:strip_cr_lf/1`).
fn strip_cr_lf(name: &mut String) {
    if name.contains(['\r', '\n']) {
        name.retain(|c| c != '\r' && c != '\n');
    }
}

/// Unbinding what is not there succeeds in RabbitMQ, even for another connection's
/// exclusive queue (`change_binding` sorts that out); only the default exchange is refused.
fn lenient_unbind(r: Result<(), BrokerError>) -> Result<(), AmqpError> {
    match r {
        Err(BrokerError::NotFound { .. }) | Ok(()) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl Channel {
    pub(super) fn exchange_declare(
        &mut self,
        ctx: &mut Context<'_>,
        mut m: ExchangeDeclare,
    ) -> Result<(), AmqpError> {
        strip_cr_lf(&mut m.exchange);
        if m.passive && !m.exchange.is_empty() {
            ctx.check_any(ResourceKind::Exchange, &m.exchange)?;
        }
        if !m.passive && !m.exchange.is_empty() {
            ctx.check(Access::Configure, ResourceKind::Exchange, &m.exchange)?;
            if let Some(ae) = exchange_arg(&m.arguments, "alternate-exchange")
                && ctx.vhost.exchange(&m.exchange).is_err()
            {
                ctx.check(Access::Read, ResourceKind::Exchange, &m.exchange)?;
                ctx.check(Access::Write, ResourceKind::Exchange, ae)?;
            }
        }
        let declared = ctx.vhost.declare_exchange(DeclareExchange {
            name: m.exchange,
            kind: m.kind,
            passive: m.passive,
            durable: m.durable,
            auto_delete: m.auto_delete,
            internal: m.internal,
            arguments: m.arguments,
        });
        match declared {
            // RabbitMQ 4.0 made this a channel error (see the profile's switch).
            Err(e @ BrokerError::UnknownExchangeType(_))
                if ctx.profile.unknown_exchange_type_is_channel_error() =>
            {
                return Err(AmqpError::precondition_failed(e.to_string()));
            }
            other => other?,
        }
        if !m.no_wait {
            ctx.send(self.id, Method::ExchangeDeclareOk(ExchangeDeclareOk {}));
        }
        Ok(())
    }

    pub(super) fn exchange_delete(
        &mut self,
        ctx: &mut Context<'_>,
        mut m: ExchangeDelete,
    ) -> Result<(), AmqpError> {
        strip_cr_lf(&mut m.exchange);
        if !m.exchange.is_empty() && !m.exchange.starts_with("amq.") {
            ctx.check(Access::Configure, ResourceKind::Exchange, &m.exchange)?;
        }
        ctx.vhost.delete_exchange(&m.exchange, m.if_unused)?;
        if !m.no_wait {
            ctx.send(self.id, Method::ExchangeDeleteOk(ExchangeDeleteOk {}));
        }
        Ok(())
    }

    pub(super) fn exchange_bind(
        &mut self,
        ctx: &mut Context<'_>,
        mut m: ExchangeBind,
    ) -> Result<(), AmqpError> {
        strip_cr_lf(&mut m.destination);
        strip_cr_lf(&mut m.source);
        let dest = (ResourceKind::Exchange, m.destination.as_str());
        check_binding(ctx, &m.source, dest, &m.routing_key)?;
        ctx.vhost.change_binding(
            true,
            &m.source,
            Destination::Exchange(m.destination.into()),
            m.routing_key,
            m.arguments,
            ctx.connection,
        )?;
        if !m.no_wait {
            ctx.send(self.id, Method::ExchangeBindOk(ExchangeBindOk {}));
        }
        Ok(())
    }

    pub(super) fn exchange_unbind(
        &mut self,
        ctx: &mut Context<'_>,
        mut m: ExchangeUnbind,
    ) -> Result<(), AmqpError> {
        strip_cr_lf(&mut m.destination);
        strip_cr_lf(&mut m.source);
        let dest = (ResourceKind::Exchange, m.destination.as_str());
        check_binding(ctx, &m.source, dest, &m.routing_key)?;
        lenient_unbind(ctx.vhost.change_binding(
            false,
            &m.source,
            Destination::Exchange(m.destination.into()),
            m.routing_key,
            m.arguments,
            ctx.connection,
        ))?;
        if !m.no_wait {
            ctx.send(self.id, Method::ExchangeUnbindOk(ExchangeUnbindOk {}));
        }
        Ok(())
    }

    pub(super) fn queue_declare(
        &mut self,
        ctx: &mut Context<'_>,
        mut m: QueueDeclare,
    ) -> Result<(), AmqpError> {
        strip_cr_lf(&mut m.queue);
        let client_named = !m.queue.is_empty();
        let name = if client_named || m.passive {
            m.queue
        } else {
            names::queue_name()
        };
        if m.passive {
            ctx.check_any(ResourceKind::Queue, &name)?;
        }
        // A reserved name is refused by the vhost first, as RabbitMQ checks names first.
        if !(m.passive || client_named && name.starts_with("amq.")) {
            ctx.check(Access::Configure, ResourceKind::Queue, &name)?;
            if let Some(dlx) = exchange_arg(&m.arguments, "x-dead-letter-exchange") {
                ctx.check(Access::Read, ResourceKind::Queue, &name)?;
                ctx.check(Access::Write, ResourceKind::Exchange, dlx)?;
            }
        }
        if !m.passive && ctx.vhost.queue_any(&name).is_none() {
            self.deprecated_queue_features(ctx, &name, m.durable, m.exclusive, &m.arguments)?;
        }
        let (_, message_count, consumer_count) = ctx.vhost.declare_queue(
            DeclareQueue {
                name: name.clone(),
                passive: m.passive,
                durable: m.durable,
                exclusive: m.exclusive,
                auto_delete: m.auto_delete,
                arguments: m.arguments,
                client_named,
            },
            ctx.connection,
        )?;
        self.last_queue = Some(name.clone());
        if !m.no_wait {
            ctx.send(
                self.id,
                Method::QueueDeclareOk(QueueDeclareOk {
                    queue: name,
                    message_count,
                    consumer_count,
                }),
            );
        }
        Ok(())
    }

    /// What RabbitMQ 4.3 refuses in a declare that creates a queue: a transient
    /// non-exclusive queue, `x-queue-master-locator`, and the arguments of classic queue
    /// storage v1. A profile that refuses it closes the connection with 541 and RabbitMQ's
    /// deprecated-feature warning (`rabbit_amqqueue:declare/7`,
    /// `rabbit_classic_queue:validate_arguments/1`); the others let it through and report
    /// it in the diagnostics.
    fn deprecated_queue_features(
        &mut self,
        ctx: &Context<'_>,
        name: &str,
        durable: bool,
        exclusive: bool,
        arguments: &crate::protocol::FieldTable,
    ) -> Result<(), AmqpError> {
        let refuse = |feature: &str| {
            AmqpError::new(code::INTERNAL_ERROR, denied_warning(feature)).on_connection()
        };
        if !durable && !exclusive {
            if ctx.profile.refuses_transient_nonexclusive_queues() {
                return Err(refuse("transient_nonexcl_queues"));
            }
            self.deprecated_once(ctx, super::REPORTED_TRANSIENT, Profile::V4_3, || {
                format!("queue '{name}' is transient (durable=false) and not exclusive")
            });
        }
        if arguments.get("x-queue-master-locator").is_some() {
            if ctx.profile.refuses_queue_master_locator() {
                return Err(refuse("queue_master_locator"));
            }
            self.deprecated_once(ctx, super::REPORTED_LOCATOR, Profile::V4_3, || {
                format!("queue '{name}' declared with x-queue-master-locator")
            });
        }
        let v1 = matches!(
            arguments
                .get("x-queue-version")
                .and_then(FieldValue::as_i64),
            Some(1)
        );
        if v1 {
            if ctx.profile.refuses_cqv1_arguments() {
                let refusal = ("x-queue-version", Refusal::UnsupportedQueueVersion(1));
                return Err(BrokerError::invalid_argument(name, &ctx.vhost.name, refusal).into());
            }
            self.deprecated_once(ctx, super::REPORTED_CQV1, Profile::V4_3, || {
                format!("queue '{name}' declared with x-queue-version 1 (classic queue storage v1)")
            });
        }
        Ok(())
    }

    /// Bind and unbind share RabbitMQ's shortcuts: an empty queue name is the last declared
    /// queue, and then an empty routing key is that queue's name.
    fn binding_names(
        &self,
        queue: &str,
        routing_key: String,
    ) -> Result<(String, String), AmqpError> {
        let name = self.resolve_queue(queue)?;
        let key = if queue.is_empty() && routing_key.is_empty() {
            name.clone()
        } else {
            routing_key
        };
        Ok((name, key))
    }

    pub(super) fn queue_bind(
        &mut self,
        ctx: &mut Context<'_>,
        mut m: QueueBind,
    ) -> Result<(), AmqpError> {
        strip_cr_lf(&mut m.queue);
        strip_cr_lf(&mut m.exchange);
        let (name, key) = self.binding_names(&m.queue, m.routing_key)?;
        check_binding(ctx, &m.exchange, (ResourceKind::Queue, &name), &key)?;
        ctx.vhost.change_binding(
            true,
            &m.exchange,
            Destination::Queue(name.into()),
            key,
            m.arguments,
            ctx.connection,
        )?;
        if !m.no_wait {
            ctx.send(self.id, Method::QueueBindOk(QueueBindOk {}));
        }
        Ok(())
    }

    pub(super) fn queue_unbind(
        &mut self,
        ctx: &mut Context<'_>,
        mut m: QueueUnbind,
    ) -> Result<(), AmqpError> {
        strip_cr_lf(&mut m.queue);
        strip_cr_lf(&mut m.exchange);
        let (name, key) = self.binding_names(&m.queue, m.routing_key)?;
        check_binding(ctx, &m.exchange, (ResourceKind::Queue, &name), &key)?;
        lenient_unbind(ctx.vhost.change_binding(
            false,
            &m.exchange,
            Destination::Queue(name.into()),
            key,
            m.arguments,
            ctx.connection,
        ))?;
        ctx.send(self.id, Method::QueueUnbindOk(QueueUnbindOk {}));
        Ok(())
    }

    pub(super) fn queue_purge(
        &mut self,
        ctx: &mut Context<'_>,
        m: QueuePurge,
    ) -> Result<(), AmqpError> {
        let name = self.resolve_queue(&m.queue)?;
        ctx.check(Access::Read, ResourceKind::Queue, &name)?;
        let queue = ctx.vhost.queue(&name, ctx.connection)?;
        super::stream::refuse_purge(&queue)?;
        let message_count = queue.purge();
        if !m.no_wait {
            ctx.send(
                self.id,
                Method::QueuePurgeOk(QueuePurgeOk { message_count }),
            );
        }
        Ok(())
    }

    pub(super) fn queue_delete(
        &mut self,
        ctx: &mut Context<'_>,
        mut m: QueueDelete,
    ) -> Result<(), AmqpError> {
        strip_cr_lf(&mut m.queue);
        let name = self.resolve_queue(&m.queue)?;
        ctx.check(Access::Configure, ResourceKind::Queue, &name)?;
        let message_count =
            ctx.vhost
                .delete_queue(&name, ctx.connection, m.if_unused, m.if_empty)?;
        if !m.no_wait {
            ctx.send(
                self.id,
                Method::QueueDeleteOk(QueueDeleteOk { message_count }),
            );
        }
        Ok(())
    }
}
