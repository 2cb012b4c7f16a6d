//! The node's Ethereum key (`private-key-eth` / `public-adr-eth`): Crossbar.io generates one
//! with every node key and checks the pair on load, so ours must be real for our key files
//! to load in Crossbar.io unchanged.

use k256::elliptic_curve::sec1::ToSec1Point;
use sha3::{Digest, Keccak256};

/// The EIP-55 checksummed address (`0x…`) of a secp256k1 private key, or `None` if the
/// bytes are not a valid private key.
pub fn address(private_key: &[u8; 32]) -> Option<String> {
    let secret = k256::SecretKey::from_slice(private_key).ok()?;
    let point = secret.public_key().to_sec1_point(false);
    // Uncompressed SEC1: 0x04 ‖ x ‖ y; the address is the last 20 bytes of keccak(x ‖ y).
    let hash = Keccak256::digest(&point.as_bytes()[1..]);
    Some(checksum(&hex::encode(&hash[12..])))
}

/// EIP-55: uppercase each hex letter whose nibble in keccak(lowercase address) is ≥ 8.
fn checksum(lower_hex: &str) -> String {
    let hash = Keccak256::digest(lower_hex.as_bytes());
    let mut out = String::from("0x");
    for (i, c) in lower_hex.chars().enumerate() {
        let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
        out.push(if nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

/// A fresh valid private key.
pub fn generate() -> Result<[u8; 32], getrandom::Error> {
    loop {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        // Zero or ≥ the group order is invalid (probability ~2^-128); draw again.
        if address(&seed).is_some() {
            return Ok(seed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossbar_fixture_address() {
        // From a key.priv written by Crossbar.io 26.x.
        let k = hex::decode("4776b89a8c812a6e305b12fc951c75a24b3391ad7817dd8066ca214e2ced4333")
            .unwrap();
        let k: [u8; 32] = k.try_into().unwrap();
        assert_eq!(
            address(&k).unwrap(),
            "0x66392a9F0A4420eFc9ca23464626559cDeFEEfA5"
        );
    }

    #[test]
    fn eip55_vector() {
        // From the EIP-55 specification.
        assert_eq!(
            checksum("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
        );
    }

    #[test]
    fn invalid_keys() {
        assert!(address(&[0u8; 32]).is_none());
        assert!(address(&[0xffu8; 32]).is_none());
        assert!(address(&generate().unwrap()).is_some());
    }
}
