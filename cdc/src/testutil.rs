//! Helpers shared by the unit tests: deterministic key pairs.

use ed25519_dalek::SigningKey;

/// A signing key from a one-byte seed (distinct seeds give distinct keys).
pub fn signing_key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// The public key (64 lowercase hex) of [`signing_key`]`(n)`.
pub fn pubkey(n: u8) -> String {
    hex::encode(signing_key(n).verifying_key().as_bytes())
}
