//! The budget of one venue, without I/O: weight spent per bucket and fixed window (aligned on
//! the Unix epoch, as Binance resets its minute counters on the minute), the weight the venue
//! says it has counted, and a pause ordered by a rate-limit answer. Times are Unix
//! milliseconds, passed in, so the rules are tested without a clock.

use marketprism_venues::{RequestCost, RestLimits};

/// Why a request must wait, and until when (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The bucket's allowance for the current window is spent.
    Budget {
        /// When the next window starts.
        until_ms: i64,
    },
    /// The venue answered 429 or 418: nothing is sent before `until_ms`.
    Paused {
        /// When the venue's `Retry-After` ends.
        until_ms: i64,
    },
}

impl Wait {
    /// When the wait ends, Unix ms.
    pub fn until_ms(self) -> i64 {
        match self {
            Wait::Budget { until_ms } | Wait::Paused { until_ms } => until_ms,
        }
    }
}

/// One bucket's counts in its current window.
#[derive(Debug, Clone)]
struct Bucket {
    name: &'static str,
    /// The venue's limit per window.
    limit: u32,
    /// What this process may spend per window: its share of `limit`.
    allowance: u32,
    window_ms: i64,
    /// The window the counts belong to (start time / `window_ms`).
    window: i64,
    /// Weight this process spent in the window.
    spent: u32,
    /// The least the venue has counted in the window for this IP: the last weight it
    /// reported plus what was spent since, or what this process spent, whichever is more.
    venue_used: u32,
}

impl Bucket {
    /// Moves to the window holding `now_ms`, resetting the counts when it is a new one.
    fn roll(&mut self, now_ms: i64) {
        let window = now_ms.div_euclid(self.window_ms);
        if window != self.window {
            self.window = window;
            self.spent = 0;
            self.venue_used = 0;
        }
    }

    fn next_window_ms(&self) -> i64 {
        (self.window + 1) * self.window_ms
    }
}

/// The budget of one venue's REST endpoint.
#[derive(Debug, Clone)]
pub struct Budget {
    buckets: Vec<Bucket>,
    paused_until_ms: i64,
}

impl Budget {
    /// A budget for `limits`, of which this process may spend `share` (0 to 1) per window.
    pub fn new(limits: &RestLimits, share: f64) -> Self {
        let share = share.clamp(0.0, 1.0);
        Budget {
            buckets: limits
                .buckets
                .iter()
                .map(|bucket| Bucket {
                    name: bucket.name,
                    limit: bucket.limit,
                    // Truncation is the point: never more than the share.
                    allowance: ((f64::from(bucket.limit) * share) as u32).max(1),
                    window_ms: i64::try_from(bucket.window.as_millis())
                        .unwrap_or(i64::MAX)
                        .max(1),
                    window: i64::MIN,
                    spent: 0,
                    venue_used: 0,
                })
                .collect(),
            paused_until_ms: i64::MIN,
        }
    }

    /// Spends `cost` at `now_ms` if the venue is not paused, this process's share of the
    /// bucket has room and the venue's count stays within its limit, in both cases leaving
    /// unspent the part `reserve` (0 to 1) of the share that the request must leave to other
    /// callers; otherwise says how long to wait. A request heavier than the whole allowance
    /// is let through at the start of an empty window, so that it is never starved. A cost
    /// in a bucket the venue does not have is not limited.
    pub fn try_spend(&mut self, cost: RequestCost, reserve: f64, now_ms: i64) -> Result<(), Wait> {
        if now_ms < self.paused_until_ms {
            return Err(Wait::Paused {
                until_ms: self.paused_until_ms,
            });
        }
        let Some(bucket) = self.bucket(cost.bucket, now_ms) else {
            return Ok(());
        };
        // Truncated as the allowance is: a fraction of a weight reserves nothing.
        let reserved = (f64::from(bucket.allowance) * reserve.clamp(0.0, 1.0)) as u32;
        let needed = cost.weight.saturating_add(reserved);
        let fits = bucket.spent.saturating_add(needed) <= bucket.allowance
            && bucket.venue_used.saturating_add(needed) <= bucket.limit;
        if !fits && (bucket.spent > 0 || bucket.venue_used > 0) {
            return Err(Wait::Budget {
                until_ms: bucket.next_window_ms(),
            });
        }
        bucket.spent += cost.weight;
        bucket.venue_used += cost.weight;
        Ok(())
    }

    /// Records the weight the venue reported having counted in `bucket` at `now_ms`
    /// (Binance's `X-MBX-USED-WEIGHT-1M`), which includes other processes on the same IP.
    pub fn venue_reported(&mut self, bucket: &str, used: u32, now_ms: i64) {
        if let Some(bucket) = self.bucket(bucket, now_ms) {
            bucket.venue_used = bucket.venue_used.max(used);
        }
    }

    /// Stops every request until `until_ms` (a 429 or 418 and its `Retry-After`); a later
    /// pause already ordered stands.
    pub fn pause(&mut self, until_ms: i64) {
        self.paused_until_ms = self.paused_until_ms.max(until_ms);
    }

    /// When the current pause ends, if one is in force at `now_ms`.
    pub fn paused_until(&self, now_ms: i64) -> Option<i64> {
        (now_ms < self.paused_until_ms).then_some(self.paused_until_ms)
    }

    /// The weight spent by this process and the least the venue counted, in `bucket`'s
    /// window holding `now_ms`.
    pub fn used(&mut self, bucket: &str, now_ms: i64) -> Option<(u32, u32)> {
        self.bucket(bucket, now_ms)
            .map(|bucket| (bucket.spent, bucket.venue_used))
    }

    fn bucket(&mut self, name: &str, now_ms: i64) -> Option<&mut Bucket> {
        let bucket = self.buckets.iter_mut().find(|bucket| bucket.name == name)?;
        bucket.roll(now_ms);
        Some(bucket)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use marketprism_venues::RestBucket;

    use super::*;

    const LIMITS: RestLimits = RestLimits {
        name: "test",
        buckets: &[RestBucket {
            name: "weight",
            limit: 100,
            window: Duration::from_secs(60),
        }],
        used_weight_header: None,
        ban: None,
    };

    fn cost(weight: u32) -> RequestCost {
        RequestCost {
            bucket: "weight",
            weight,
        }
    }

    /// A minute's start, Unix ms.
    const MINUTE: i64 = 1_700_000_040_000;

    #[test]
    fn weight_is_accounted_up_to_the_share_then_waits_for_the_next_window() {
        let mut budget = Budget::new(&LIMITS, 0.5);
        for _ in 0..10 {
            budget
                .try_spend(cost(5), 0.0, MINUTE + 1)
                .expect("within the share");
        }
        assert_eq!(budget.used("weight", MINUTE + 2), Some((50, 50)));
        assert_eq!(
            budget.try_spend(cost(5), 0.0, MINUTE + 3),
            Err(Wait::Budget {
                until_ms: MINUTE + 60_000
            })
        );
        budget
            .try_spend(cost(5), 0.0, MINUTE + 60_000)
            .expect("a new window");
        assert_eq!(budget.used("weight", MINUTE + 60_001), Some((5, 5)));
    }

    #[test]
    fn the_venues_count_includes_other_processes() {
        let mut budget = Budget::new(&LIMITS, 0.5);
        budget.try_spend(cost(5), 0.0, MINUTE).expect("first");
        // Another process on the same IP spent 90 this minute.
        budget.venue_reported("weight", 95, MINUTE + 10);
        assert_eq!(
            budget.try_spend(cost(10), 0.0, MINUTE + 20),
            Err(Wait::Budget {
                until_ms: MINUTE + 60_000
            })
        );
        budget
            .try_spend(cost(5), 0.0, MINUTE + 20)
            .expect("up to the limit");
        // A report from the previous window says nothing about the next.
        budget.venue_reported("weight", 100, MINUTE + 59_999);
        budget
            .try_spend(cost(10), 0.0, MINUTE + 60_000)
            .expect("new window");
    }

    #[test]
    fn a_request_leaving_a_reserve_stops_short_of_it_and_others_spend_it() {
        // An allowance of 50, of which a fifth (10) is left to the others.
        let mut budget = Budget::new(&LIMITS, 0.5);
        for _ in 0..8 {
            budget
                .try_spend(cost(5), 0.2, MINUTE + 1)
                .expect("within the share less the reserve");
        }
        assert_eq!(
            budget.try_spend(cost(5), 0.2, MINUTE + 2),
            Err(Wait::Budget {
                until_ms: MINUTE + 60_000
            })
        );
        budget
            .try_spend(cost(10), 0.0, MINUTE + 3)
            .expect("the reserve");
        assert!(budget.try_spend(cost(1), 0.0, MINUTE + 4).is_err());

        // The reserve is also left below the venue's count of the whole IP.
        budget.venue_reported("weight", 85, MINUTE + 60_001);
        budget
            .try_spend(cost(5), 0.2, MINUTE + 60_002)
            .expect("90 of 100, 10 left");
        assert!(budget.try_spend(cost(5), 0.2, MINUTE + 60_003).is_err());
        budget
            .try_spend(cost(10), 0.0, MINUTE + 60_004)
            .expect("the reserve");
    }

    #[test]
    fn a_pause_stops_every_bucket_until_it_ends() {
        let mut budget = Budget::new(&LIMITS, 1.0);
        budget.pause(MINUTE + 30_000);
        assert_eq!(
            budget.try_spend(cost(1), 0.0, MINUTE + 29_999),
            Err(Wait::Paused {
                until_ms: MINUTE + 30_000
            })
        );
        // A shorter pause does not shorten it.
        budget.pause(MINUTE + 1_000);
        assert_eq!(budget.paused_until(MINUTE + 2_000), Some(MINUTE + 30_000));
        budget
            .try_spend(cost(1), 0.0, MINUTE + 30_000)
            .expect("resumed");
    }

    #[test]
    fn a_request_heavier_than_the_share_passes_alone_in_a_fresh_window() {
        let mut budget = Budget::new(&LIMITS, 0.1);
        budget.try_spend(cost(50), 0.0, MINUTE).expect("alone");
        assert!(budget.try_spend(cost(1), 0.0, MINUTE + 1).is_err());
    }
}
