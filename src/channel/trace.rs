//! The channel's side of the firehose tracer (`broker::trace`): what a channel publishes
//! and delivers is copied to `amq.rabbitmq.trace` while its vhost traces, and the trace
//! queues that got a copy are dispatched with the channel's other pushes.

use super::{Context, remember_pushed};
use crate::broker::message::Message;
use crate::broker::queue::Queue;
use crate::broker::trace::{Event, Tap};
use std::sync::Arc;

/// Traces `message`, seen on `channel`, if the vhost traces (one atomic load when it does
/// not); the queues that got a copy join `pushed`.
pub(super) fn trace(
    ctx: &Context<'_>,
    channel: u16,
    pushed: &mut Vec<Arc<Queue>>,
    message: &Message,
    event: Event<'_>,
) {
    if !ctx.vhost.tracing() {
        return;
    }
    let tap = Tap {
        connection: &ctx.origin.name,
        channel,
        user: ctx.user,
    };
    for q in ctx.vhost.trace(message, event, &tap) {
        remember_pushed(pushed, &q);
    }
}
