//! Capped exponential backoff with full jitter, reset after a successful session.

use std::time::Duration;

use rand::Rng;

/// Delays for successive reconnect attempts.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The next delay: uniformly random in `[ceiling / 2, ceiling]`, where the ceiling doubles
    /// per attempt up to `max`. Jitter keeps many collectors from reconnecting in lockstep.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .initial
            .saturating_mul(2_u32.saturating_pow(self.attempt))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let low = ceiling / 2;
        let spread = (ceiling - low).as_millis() as u64;
        low + Duration::from_millis(rand::rng().random_range(0..=spread))
    }

    pub(crate) fn reset(&mut self) {
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
