//! Version profiles: which RabbitMQ release's behaviour Warren follows where releases differ
//! in ways a client notices (`--profile rabbitmq-4.0`, `BrokerBuilder::profile`).
//!
//! Each switch is one method, and each method's doc comment names the release note that
//! says what changed (rabbitmq-server `release-notes/<version>.md`). The profile is fixed
//! when the broker starts and read where the behaviour lives, mostly on error or declare
//! paths; the publish and deliver paths read none of it.
//!
//! The default profile is today's RabbitMQ (4.3) minus its refusals of deprecated features:
//! what applications send today is accepted, and the diagnostics report
//! (`broker::diagnostics`) names each call a 4.x profile would refuse, with the version.

use std::fmt;
use std::str::FromStr;

/// A RabbitMQ release series whose client-visible behaviour Warren can follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// RabbitMQ 4.3 where it only differs by a new reply, and lenient where 4.x refuses
    /// something applications still send.
    #[default]
    Default,
    V3_10,
    V3_13,
    V4_0,
    V4_1,
    V4_2,
    V4_3,
}

/// A RabbitMQ version, as the diagnostics report names the one that refuses a call.
pub type Version = &'static str;

/// RabbitMQ's default `max_message_size` before 4.0: 128 MiB.
pub const MAX_MESSAGE_SIZE_3X: u64 = 128 << 20;
/// RabbitMQ's default `max_message_size` from 4.0 on: 16 MiB.
pub const MAX_MESSAGE_SIZE_4X: u64 = 16 << 20;
/// The smallest frame_max a client may negotiate before 4.1 (`?FRAME_MIN_SIZE`).
pub const FRAME_MIN_3X: u32 = 4096;
/// The smallest frame_max a client may negotiate from 4.1 on.
pub const FRAME_MIN_4_1: u32 = 8192;

impl Profile {
    /// Every profile, in release order after the default.
    pub const ALL: [Profile; 7] = [
        Profile::Default,
        Profile::V3_10,
        Profile::V3_13,
        Profile::V4_0,
        Profile::V4_1,
        Profile::V4_2,
        Profile::V4_3,
    ];

    /// The name `--profile` takes.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::V3_10 => "rabbitmq-3.10",
            Profile::V3_13 => "rabbitmq-3.13",
            Profile::V4_0 => "rabbitmq-4.0",
            Profile::V4_1 => "rabbitmq-4.1",
            Profile::V4_2 => "rabbitmq-4.2",
            Profile::V4_3 => "rabbitmq-4.3",
        }
    }

    /// At least release `v` (the default counts as the newest release).
    fn since(self, v: Profile) -> bool {
        self == Profile::Default || self >= v
    }

    /// A pinned 4.x profile: one that refuses what its release refuses.
    fn strict_since(self, v: Profile) -> bool {
        self != Profile::Default && self >= v
    }

    /// 4.3 refuses to declare a non-durable, non-exclusive queue: connection.close 541
    /// with the deprecated-feature warning. Release notes 4.3.0, "Deprecated Features are
    /// Now Disabled by Default" (`transient_nonexcl_queues`, now `denied_by_default`).
    pub fn refuses_transient_nonexclusive_queues(self) -> bool {
        self.strict_since(Profile::V4_3)
    }

    /// 4.3 refuses a queue declared with `x-queue-master-locator`: connection.close 541.
    /// Release notes 4.3.0, "Deprecated Features" (`queue_master_locator` moved to
    /// `denied_by_default`; deprecated in 4.0.1's notes in favour of queue-leader-locator).
    pub fn refuses_queue_master_locator(self) -> bool {
        self.strict_since(Profile::V4_3)
    }

    /// 4.3 takes basic.qos global=true as global=false, without a word: the prefetch
    /// applies to each consumer, not to the channel. Release notes 4.3.0, "Deprecated
    /// Features" (`global_qos` moved to `denied_by_default`; `rabbit_channel` rewrites the
    /// method when the feature is denied).
    pub fn global_qos_is_per_consumer(self) -> bool {
        self.strict_since(Profile::V4_3)
    }

    /// 4.3 refuses `x-queue-version` 1 (406, "unsupported queue version '1'"): classic
    /// queue storage v1 is removed. Release notes 4.3.0, "Classic Queues v1 Storage (CQv1)
    /// is Removed". The same note says `x-queue-mode` fails too, but 4.3's
    /// `rabbit_amqqueue` no longer checks it at all, so it is accepted here as there.
    pub fn refuses_cqv1_arguments(self) -> bool {
        self.strict_since(Profile::V4_3)
    }

    /// The smallest frame_max a client may negotiate: 8192 from 4.1 on, 4096 before.
    /// Release notes 4.1.0, "Initial AMQP 0-9-1 Maximum Frame Size" (clients that override
    /// frame_max must use 8192 or more; amqplib before 0.10.7 used 4096). The default
    /// profile keeps 4096, which such clients still send.
    pub fn frame_max_floor(self) -> u32 {
        if self.strict_since(Profile::V4_1) {
            FRAME_MIN_4_1
        } else {
            FRAME_MIN_3X
        }
    }

    /// The largest frame a client may send before connection.tune-ok (its start-ok,
    /// with its client properties and credentials): 8192 from 4.1 on, 4096 before.
    /// Release notes 4.1.0, "Initial AMQP 0-9-1 Maximum Frame Size". A larger frame ends
    /// the handshake, as RabbitMQ's `frame_too_large` does.
    pub fn handshake_frame_max(self) -> u32 {
        if self.since(Profile::V4_1) {
            FRAME_MIN_4_1
        } else {
            FRAME_MIN_3X
        }
    }

    /// Whether exchange.declare takes the `x-local-random` type: from 4.0 on (release
    /// notes 4.0.1, "New exchange type: Local Random Exchange"); before, it is an unknown
    /// type.
    pub fn has_local_random_exchange(self) -> bool {
        self.since(Profile::V4_0)
    }

    /// Whether connection.start offers SASL ANONYMOUS, which logs a client in as the node's
    /// anonymous login user: from 4.0 on, where `auth_mechanisms` lists it by default and
    /// `anonymous_login_user`/`anonymous_login_pass` default to guest/guest (release notes
    /// 4.0.1, "MQTT"; access-control.md, "Built-in Authentication Mechanisms").
    pub fn offers_anonymous_login(self) -> bool {
        self.since(Profile::V4_0)
    }

    /// The largest message body when `--max-message-size` is not given: 16 MiB from 4.0
    /// on, 128 MiB before. Release notes 4.0.1, "Default Maximum Message Size Reduced to
    /// 16 MiB".
    pub fn default_max_message_size(self) -> u64 {
        if self.since(Profile::V4_0) {
            MAX_MESSAGE_SIZE_4X
        } else {
            MAX_MESSAGE_SIZE_3X
        }
    }

    /// Up to 3.13 an `x-death` header a client (re-)published is history that a further
    /// dead-lettering continues (its counts grow); 4.x ignores it and starts afresh.
    /// Release notes 4.0.1, "AMQP 0.9.1 x-death header".
    pub fn continues_client_x_death(self) -> bool {
        !self.since(Profile::V4_0)
    }

    /// Dead-lettering sets `x-last-death-reason`, `-queue` and `-exchange` from 3.13 on,
    /// beside the older `x-first-death-*`. Release notes 3.13.0: the "common message
    /// container format" (rabbitmq-server#5077) that brought the headers.
    pub fn sets_x_last_death(self) -> bool {
        self.since(Profile::V3_13)
    }

    /// An exchange.declare of an unknown type: 4.x closes the channel with 406
    /// PRECONDITION_FAILED, 3.x the connection with 503 COMMAND_INVALID. The change
    /// (rabbitmq-server#11214, first in 4.0.0) is not in the release notes. The default
    /// profile keeps 503, the reply Warren has always given.
    pub fn unknown_exchange_type_is_channel_error(self) -> bool {
        self.strict_since(Profile::V4_0)
    }

    /// What a delivery left unacked past the consumer timeout costs. Up to 4.2 the channel
    /// checks every delivery, of any queue, and closes with 406 PRECONDITION_FAILED. From
    /// 4.3 on the queues evaluate it and classic queues never do; a quorum queue returns the
    /// consumer's messages and the channel sends basic.cancel to a client with
    /// `consumer_cancel_notify` (406 for one without, with "-1 ms"). Release notes 4.3.0,
    /// "Consumer Timeouts are No Longer Evaluated for Classic Queues and Streams" and
    /// "Consumer timeout for quorum queues". Warren's quorum queues are classic queues
    /// declared `x-queue-type: quorum`.
    pub fn consumer_timeout_cancels(self) -> bool {
        self.since(Profile::V4_3)
    }

    /// Whether only quorum queues' deliveries time out: RabbitMQ 4.3 exactly. The default
    /// profile checks every queue type, as 4.2 did, with 4.3's way of cancelling just the
    /// consumer: a classic-queue consumer that hangs on a message is a bug whatever the
    /// queue type.
    pub fn consumer_timeout_only_quorum(self) -> bool {
        self.strict_since(Profile::V4_3)
    }

    /// Whether a quorum queue counts every return toward its delivery limit, has no limit
    /// unless one is declared, and shows `x-delivery-count` only (before 4.0). From 4.0 the
    /// limit defaults to 20, and from 4.3 (which the default follows) only failed
    /// deliveries count (release notes 4.0.1, 4.3.0 #13885).
    pub fn quorum_counts_every_return(self) -> bool {
        !self.since(Profile::V4_0)
    }

    /// Where this profile still accepts a call that a 4.x release refuses, the oldest such
    /// release, for the diagnostics report; None when the profile refuses it itself or no
    /// release does.
    pub fn tolerates(self, refused_by: Profile) -> Option<Version> {
        (!self.strict_since(refused_by)).then(|| refused_by.version())
    }

    /// The release number, as RabbitMQ prints it ("4.3"); "default" for the default.
    pub fn version(self) -> Version {
        match self {
            Profile::Default => "default",
            other => other.name().trim_start_matches("rabbitmq-"),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A profile name that is not one of [`Profile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown profile '{0}' (one of: default, rabbitmq-3.10, rabbitmq-3.13, rabbitmq-4.0, rabbitmq-4.1, rabbitmq-4.2, rabbitmq-4.3)"
)]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    /// `rabbitmq-4.0`, or just `4.0`.
    fn from_str(s: &str) -> Result<Profile, UnknownProfile> {
        let wanted = s.trim();
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == wanted || p.version() == wanted)
            .ok_or_else(|| UnknownProfile(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>(), Ok(p));
        }
        assert_eq!("4.1".parse::<Profile>(), Ok(Profile::V4_1));
        assert!("rabbitmq-3.12".parse::<Profile>().is_err());
    }

    #[test]
    fn the_default_is_lenient_where_4x_refuses() {
        let d = Profile::Default;
        assert!(!d.refuses_transient_nonexclusive_queues());
        assert!(!d.refuses_queue_master_locator());
        assert!(!d.global_qos_is_per_consumer());
        assert_eq!(d.frame_max_floor(), FRAME_MIN_3X);
        assert_eq!(d.default_max_message_size(), MAX_MESSAGE_SIZE_4X);
        assert!(d.sets_x_last_death());
        assert!(!d.continues_client_x_death());
        assert_eq!(d.tolerates(Profile::V4_3), Some("4.3"));
        assert_eq!(Profile::V4_3.tolerates(Profile::V4_3), None);
        assert_eq!(Profile::V4_2.tolerates(Profile::V4_3), Some("4.3"));
    }

    #[test]
    fn each_switch_flips_at_its_release() {
        let flips = |f: fn(Profile) -> bool| -> Vec<bool> {
            Profile::ALL[1..].iter().map(|p| f(*p)).collect()
        };
        // 3.10, 3.13, 4.0, 4.1, 4.2, 4.3
        let at_4_3 = vec![false, false, false, false, false, true];
        assert_eq!(
            flips(Profile::refuses_transient_nonexclusive_queues),
            at_4_3
        );
        assert_eq!(flips(Profile::refuses_queue_master_locator), at_4_3);
        assert_eq!(flips(Profile::global_qos_is_per_consumer), at_4_3);
        assert_eq!(
            flips(|p| p.frame_max_floor() == FRAME_MIN_4_1),
            vec![false, false, false, true, true, true]
        );
        assert_eq!(
            flips(Profile::continues_client_x_death),
            vec![true, true, false, false, false, false]
        );
        assert_eq!(
            flips(Profile::sets_x_last_death),
            vec![false, true, true, true, true, true]
        );
    }
}
