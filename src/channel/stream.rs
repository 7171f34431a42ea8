//! What the channel refuses on a stream, with RabbitMQ's codes and texts: basic.get and
//! queue.purge (540), and a basic.consume with a bad x-stream-offset or another type's
//! argument (406), without a consumer prefetch (406), with automatic acknowledgement or
//! under a global prefetch (540).
//! The texts are 4.3's (`rabbit_stream_queue:consume/3`); the 3.x profiles get 3.x's.

use crate::broker::error::BrokerError;
use crate::broker::profile::Profile;
use crate::broker::queue::args::refused_consumer_arg;
use crate::broker::queue::{Queue, QueueType};
use crate::broker::stream::ConsumeSpec;
use crate::error::AmqpError;
use crate::protocol::FieldTable;

/// `queue 'name' in vhost 'v'`, as RabbitMQ's `rabbit_misc:rs/1` prints a queue.
fn rs(q: &Queue) -> String {
    format!("queue '{}' in vhost '{}'", q.name, q.vhost)
}

pub(super) fn refuse_get(q: &Queue) -> Result<(), AmqpError> {
    if q.stream().is_none() {
        return Ok(());
    }
    Err(AmqpError::not_implemented(format!(
        "basic.get not supported by stream queues {}",
        rs(q)
    )))
}

pub(super) fn refuse_purge(q: &Queue) -> Result<(), AmqpError> {
    if q.stream().is_none() {
        return Ok(());
    }
    Err(AmqpError::not_implemented(format!(
        "queue.purge not supported by stream queues {}",
        rs(q)
    )))
}

/// What a consumer of stream `q` asks for, or why it is refused, checked in RabbitMQ's
/// order: the arguments first (`rabbit_amqqueue:check_consume_arguments`), then the
/// prefetch, auto-ack and global qos (`rabbit_stream_queue:consume/3`). The prefetch and
/// auto-ack texts changed in 4.0; the 3.x profiles get the old ones.
pub(super) fn consume_spec(
    q: &Queue,
    profile: Profile,
    prefetch: u16,
    no_ack: bool,
    global_limit: bool,
    args: &FieldTable,
) -> Result<ConsumeSpec, AmqpError> {
    let spec = ConsumeSpec::from_args(args).map_err(|term| {
        AmqpError::precondition_failed(format!(
            "invalid arg 'x-stream-offset' for {}: {term}",
            rs(q)
        ))
    })?;
    // Another type's consumer arguments (x-priority), as every type refuses them.
    refused_consumer_arg(QueueType::Stream, args)
        .map_err(|e| BrokerError::invalid_argument(&q.name, &q.vhost, e))?;
    let old = matches!(profile, Profile::V3_10 | Profile::V3_13);
    if prefetch == 0 {
        return Err(AmqpError::precondition_failed(if old {
            format!("consumer prefetch count is not set for '{}'", rs(q))
        } else {
            format!("consumer prefetch count is not set for stream {}", rs(q))
        }));
    }
    if no_ack {
        return Err(AmqpError::not_implemented(if old {
            format!(
                "automatic acknowledgement not supported by stream queues {}",
                rs(q)
            )
        } else {
            format!(
                "automatic acknowledgement not supported by stream {}",
                rs(q)
            )
        }));
    }
    if global_limit {
        return Err(AmqpError::not_implemented(format!(
            "{} does not support global qos",
            rs(q)
        )));
    }
    Ok(spec)
}

impl super::Channel {
    /// RabbitMQ 3.10 refused basic.nack and basic.reject of a stream's deliveries (540);
    /// 3.13 made every settlement credit, which the other profiles follow.
    pub(super) fn refuse_stream_nack(
        &self,
        profile: Profile,
        tag: u64,
        multiple: bool,
    ) -> Result<(), AmqpError> {
        if profile != Profile::V3_10 {
            return Ok(());
        }
        let stream = match (multiple, tag) {
            (true, 0) => self.unacked.values().find(|u| u.queue.stream().is_some()),
            (true, _) => self
                .unacked
                .range(..=tag)
                .map(|(_, u)| u)
                .find(|u| u.queue.stream().is_some()),
            (false, _) => self
                .unacked
                .get(&tag)
                .filter(|u| u.queue.stream().is_some()),
        };
        match stream {
            Some(u) => Err(AmqpError::not_implemented(format!(
                "basic.nack and basic.reject not supported by stream queues {}",
                rs(&u.queue)
            ))),
            None => Ok(()),
        }
    }
}
