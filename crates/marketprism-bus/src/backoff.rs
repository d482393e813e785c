//! The services' one retry delay: capped exponential backoff with equal jitter, reset after
//! a success. The collector uses it between reconnects, snapshot fetches and publishes,
//! storage between insert attempts.

use std::time::Duration;

use rand::Rng;

/// Delays for successive attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays starting at `initial`, doubling per attempt up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The next delay: uniformly random in `[ceiling / 2, ceiling]` ("equal jitter"), where
    /// the ceiling is `initial` doubled per attempt, at most `max`. The random half keeps many
    /// clients from retrying in lockstep; the fixed half guarantees each waits.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .initial
            .saturating_mul(2_u32.saturating_pow(self.attempt))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let low = ceiling / 2;
        let spread = u64::try_from((ceiling - low).as_millis()).unwrap_or(u64::MAX);
        low + Duration::from_millis(rand::rng().random_range(0..=spread))
    }

    /// Starts again from `initial`, after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for _ in 0..20 {
            assert!(backoff.next_delay() <= Duration::from_secs(1));
        }
        let late = backoff.next_delay();
        assert!(late >= Duration::from_millis(500), "{late:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
