//! Restart pacing: exponential backoff that forgets past failures once a run was long enough.

use std::time::Duration;

/// Delay before the next restart of a worker that keeps failing.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    /// A run at least this long counts as healthy: the next failure starts over at `initial`.
    stable_after: Duration,
    next: Duration,
}

impl Default for Backoff {
    /// 0.5 s, doubling up to 30 s; a run of 60 s resets it.
    fn default() -> Self {
        Backoff::new(
            Duration::from_millis(500),
            Duration::from_secs(30),
            Duration::from_secs(60),
        )
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, stable_after: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            stable_after,
            next: initial,
        }
    }

    /// The delay before restarting a process that ran for `ran`.
    pub fn after_run(&mut self, ran: Duration) -> Duration {
        if ran >= self.stable_after {
            self.next = self.initial;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_resets() {
        let mut b = Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(5),
            Duration::from_secs(60),
        );
        let short = Duration::from_secs(1);
        let got: Vec<u64> = (0..5).map(|_| b.after_run(short).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 5, 5]);
        assert_eq!(b.after_run(Duration::from_secs(61)).as_secs(), 1);
    }
}
