//! A quorum queue's rules for a message that comes back from a consumer: what it counts,
//! what a delivery of it says, and when it has come back too often (the delivery limit).
//!
//! Pure rules over a message's counts, with no I/O, so they are tested by properties
//! (below) and the queue only asks them. They follow RabbitMQ 4.3's `rabbit_fifo`: every
//! return counts as an acquisition (`x-acquired-count`); only a failed delivery (the
//! consumer's channel or connection went away, or its delivery timed out) counts toward
//! the limit (`x-delivery-count`), so a consumer that nacks with requeue never makes a
//! message hit it; a basic.reject with requeue counts as a failure, as in 4.3. The limit is 20 unless declared (4.0 on); a message returned more often
//! than that is dead-lettered with reason `delivery_limit`, or dropped without a dead-letter
//! exchange. Before 4.0 (the version profiles) every return counted toward an optional
//! limit (3.10 also showed `x-delivery-count: 0` on a first basic.get; 3.12 dropped it).

pub mod machine;

use crate::protocol::FieldValue;

/// How a delivered message came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Return {
    /// basic.nack / basic.reject with requeue, basic.recover: the consumer asked.
    Requeued,
    /// Its channel or connection closed, or its delivery timed out, before it was settled.
    Failed,
}

/// A message's history in its quorum queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Returns of any kind.
    pub acquired: u32,
    /// Failed deliveries (saturating; a limit past `u16::MAX` is never reached).
    pub failed: u16,
}

/// What becomes of a returned message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Back in the queue, to be delivered again.
    Requeue,
    /// Over the delivery limit: dead-lettered (reason delivery_limit) or dropped.
    OverLimit,
}

/// A queue's delivery limit as declared (x-delivery-limit, or a policy's delivery-limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Limit {
    /// None declared: 20 from RabbitMQ 4.0 on, none before.
    #[default]
    Default,
    /// A negative value: no limit.
    Unlimited,
    Of(u64),
}

/// The highest message priority of a quorum queue (RabbitMQ 4.x: 32 levels, 0-31).
pub const MAX_PRIORITY: u8 = 31;

/// The default delivery limit of RabbitMQ 4.0 and later.
pub const DEFAULT_LIMIT: u64 = 20;

impl Limit {
    /// The limit an x-delivery-limit value sets: RabbitMQ takes any value (3.10.8 and 4.3
    /// check none); an integer of 0 or more is the limit, a negative one means none,
    /// anything else the default.
    pub fn of(v: Option<&FieldValue>) -> Limit {
        match v.and_then(FieldValue::as_i64) {
            Some(n) if n < 0 => Limit::Unlimited,
            Some(n) => Limit::Of(n as u64),
            None => Limit::Default,
        }
    }

    /// An argument and a policy together (`rabbit_quorum_queue:resolve_delivery_limit/2`):
    /// the larger where either is negative, the smaller otherwise.
    pub fn with_policy(self, policy: Option<i64>) -> Limit {
        let Some(p) = policy else {
            return self;
        };
        match (self, u64::try_from(p)) {
            (Limit::Default, _) => Limit::of(Some(&FieldValue::I64(p))),
            (Limit::Unlimited, Ok(p)) => Limit::Of(p),
            (Limit::Unlimited, Err(_)) => Limit::Unlimited,
            (Limit::Of(a), Err(_)) => Limit::Of(a),
            (Limit::Of(a), Ok(p)) => Limit::Of(a.min(p)),
        }
    }
}

/// The rules of one queue, under one version profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub limit: Limit,
    /// RabbitMQ before 4.0: every return counts toward the limit, no default limit.
    pub before_4_0: bool,
}

impl Rules {
    /// These rules as version profile `p` counts returns.
    pub fn under(self, p: crate::broker::profile::Profile) -> Rules {
        Rules {
            before_4_0: p.quorum_counts_every_return(),
            ..self
        }
    }

    /// The limit in force, None for none.
    fn limit(&self) -> Option<u64> {
        match self.limit {
            Limit::Default if self.before_4_0 => None,
            Limit::Default => Some(DEFAULT_LIMIT),
            Limit::Unlimited => None,
            Limit::Of(n) => Some(n),
        }
    }

    /// The count the limit is checked against.
    fn counted(&self, c: Counts) -> u64 {
        if self.before_4_0 {
            u64::from(c.acquired)
        } else {
            u64::from(c.failed)
        }
    }

    /// Counts a return and says what becomes of the message.
    pub fn on_return(&self, c: &mut Counts, how: Return) -> Verdict {
        c.acquired = c.acquired.saturating_add(1);
        if how == Return::Failed {
            c.failed = c.failed.saturating_add(1);
        }
        match self.limit() {
            Some(limit) if self.counted(*c) > limit => Verdict::OverLimit,
            _ => Verdict::Requeue,
        }
    }

    /// The headers a delivery of a message with these counts carries (none on a first
    /// delivery from 4.0 on).
    pub fn headers(&self, c: Counts) -> Vec<(&'static str, FieldValue)> {
        let mut out = Vec::new();
        if self.before_4_0 {
            if c.acquired > 0 {
                out.push(("x-delivery-count", FieldValue::I64(c.acquired.into())));
            }
            return out;
        }
        if c.acquired > 0 {
            out.push(("x-acquired-count", FieldValue::I64(c.acquired.into())));
        }
        if c.failed > 0 {
            out.push(("x-delivery-count", FieldValue::I64(c.failed.into())));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn returns() -> impl Strategy<Value = Vec<bool>> {
        proptest::collection::vec(any::<bool>(), 0..60)
    }

    fn limits() -> impl Strategy<Value = Limit> {
        prop_oneof![
            Just(Limit::Default),
            Just(Limit::Unlimited),
            (0u64..30).prop_map(Limit::Of),
        ]
    }

    proptest! {
        /// Every return is an acquisition; failures are some of them; under 4.x rules the
        /// first verdict past the limit comes exactly when failures pass it, and requeues
        /// never bring it on.
        #[test]
        fn counts_and_the_limit(seq in returns(), limit in limits(), before in any::<bool>()) {
            let rules = Rules { limit, before_4_0: before };
            let mut c = Counts::default();
            let (mut failed, mut all) = (0u64, 0u64);
            for failed_delivery in seq {
                let how = if failed_delivery { Return::Failed } else { Return::Requeued };
                let verdict = rules.on_return(&mut c, how);
                all += 1;
                failed += u64::from(failed_delivery);
                prop_assert_eq!(u64::from(c.acquired), all);
                prop_assert_eq!(u64::from(c.failed), failed);
                let counted = if before { all } else { failed };
                let over = rules.limit().is_some_and(|l| counted > l);
                prop_assert_eq!(verdict == Verdict::OverLimit, over);
                if over {
                    // The queue lets the message go at its first OverLimit.
                    break;
                }
            }
        }

        /// A delivery's headers say what the counts say, and nothing on a first delivery
        /// from 4.0 on.
        #[test]
        fn headers_follow_the_counts(acquired in 0u32..100, failed in 0u16..100, limit in limits()) {
            let c = Counts { acquired, failed: failed.min(acquired as u16) };
            let h = Rules { limit, before_4_0: false }.headers(c);
            let get = |k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
            prop_assert_eq!(get("x-acquired-count"), (acquired > 0).then(|| FieldValue::I64(acquired.into())));
            prop_assert_eq!(get("x-delivery-count"), (c.failed > 0).then(|| FieldValue::I64(c.failed.into())));
        }
    }

    #[test]
    fn requeues_alone_never_reach_the_default_limit() {
        let rules = Rules {
            limit: Limit::Default,
            before_4_0: false,
        };
        let mut c = Counts::default();
        for _ in 0..1000 {
            assert_eq!(rules.on_return(&mut c, Return::Requeued), Verdict::Requeue);
        }
        for _ in 0..DEFAULT_LIMIT {
            assert_eq!(rules.on_return(&mut c, Return::Failed), Verdict::Requeue);
        }
        assert_eq!(rules.on_return(&mut c, Return::Failed), Verdict::OverLimit);
    }

    #[test]
    fn before_4_0_a_limit_of_one_allows_two_deliveries() {
        // 3.10.8: x-delivery-limit 1, get + nack(requeue) twice: delivered twice, then
        // dead-lettered.
        let rules = Rules {
            limit: Limit::Of(1),
            before_4_0: true,
        };
        let mut c = Counts::default();
        assert!(rules.headers(c).is_empty());
        assert_eq!(rules.on_return(&mut c, Return::Requeued), Verdict::Requeue);
        assert_eq!(
            rules.headers(c),
            vec![("x-delivery-count", FieldValue::I64(1))]
        );
        assert_eq!(
            rules.on_return(&mut c, Return::Requeued),
            Verdict::OverLimit
        );
    }

    #[test]
    fn a_policy_and_an_argument_take_the_lower_or_the_unlimited() {
        assert_eq!(Limit::Of(5).with_policy(Some(3)), Limit::Of(3));
        assert_eq!(Limit::Of(5).with_policy(Some(9)), Limit::Of(5));
        assert_eq!(Limit::Default.with_policy(Some(7)), Limit::Of(7));
        assert_eq!(Limit::Default.with_policy(Some(-1)), Limit::Unlimited);
        assert_eq!(Limit::Unlimited.with_policy(Some(3)), Limit::Of(3));
        assert_eq!(Limit::Unlimited.with_policy(Some(-1)), Limit::Unlimited);
        assert_eq!(Limit::Of(5).with_policy(Some(-1)), Limit::Of(5));
        assert_eq!(Limit::Of(5).with_policy(None), Limit::Of(5));
    }
}
