//! Small shared helpers: ID generation and timestamps.

use rand::RngExt as _;

use crate::message::{Id, MAX_ID};

/// A random ID in [1, 2^53] (global scope: sessions, publications; also used for
/// subscriptions and registrations, which only need router-wide uniqueness).
pub fn random_id() -> Id {
    rand::rng().random_range(1..=MAX_ID)
}

/// The current time as Crossbar.io writes it: `2020-07-05T11:49:59.125Z`.
pub fn utcnow() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// A random serial like Crossbar.io's `generate_serial_number()` (`ABCD-EFGH-…`), used for
/// anonymous authids.
pub fn serial_number() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let mut s = String::with_capacity(29);
    for group in 0..6 {
        if group > 0 {
            s.push('-');
        }
        for _ in 0..4 {
            s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
        }
    }
    s
}

/// The maps and sets of the routing hot path: ahash, randomly keyed per process. Several times
/// faster than SipHash for IDs and short URIs, and still keyed so that client-chosen URIs and
/// request IDs cannot be crafted to collide.
pub type HashMap<K, V> = std::collections::HashMap<K, V, ProcessSeed>;
/// See [`HashMap`].
pub type HashSet<T> = std::collections::HashSet<T, ProcessSeed>;

/// Builds ahash hashers from one random seed drawn once per process. Zero-sized, unlike
/// `ahash::RandomState` (32 bytes in every map): each session holds several maps.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessSeed;

impl std::hash::BuildHasher for ProcessSeed {
    type Hasher = ahash::AHasher;

    fn build_hasher(&self) -> ahash::AHasher {
        static SEED: std::sync::LazyLock<ahash::RandomState> =
            std::sync::LazyLock::new(ahash::RandomState::new);
        SEED.build_hasher()
    }
}

/// At most `per_second` events a second pass (for log lines a peer can cause at will, such as
/// protocol violations); the others are counted and reported with the next one that passes.
pub struct RateLimit {
    per_second: u64,
    /// The current second (since the Unix epoch) and how many passed in it.
    second: std::sync::atomic::AtomicU64,
    passed: std::sync::atomic::AtomicU64,
    suppressed: std::sync::atomic::AtomicU64,
}

impl RateLimit {
    pub const fn new(per_second: u64) -> Self {
        RateLimit {
            per_second,
            second: std::sync::atomic::AtomicU64::new(0),
            passed: std::sync::atomic::AtomicU64::new(0),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event passes (`n` were suppressed since the last that passed),
    /// `None` when it is suppressed. Approximate under races, which is fine for logging.
    pub fn allow(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if self.second.swap(now, Relaxed) != now {
            self.passed.store(0, Relaxed);
        }
        if self.passed.fetch_add(1, Relaxed) < self.per_second {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimit;

    #[test]
    fn rate_limit_passes_a_few_and_counts_the_rest() {
        let r = RateLimit::new(3);
        let passed: Vec<Option<u64>> = (0..10).map(|_| r.allow()).collect();
        // Within one second (the test takes far less, or it crossed a second boundary and
        // more passed): the first three pass, the rest are counted.
        let n = passed.iter().filter(|p| p.is_some()).count();
        assert!((3..=6).contains(&n), "{passed:?}");
        assert_eq!(passed[0], Some(0));
    }
}
