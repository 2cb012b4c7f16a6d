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
