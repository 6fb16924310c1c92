//! API key material: generation and hashing. Keys are `ahk_` followed by 40 base62 characters
//! (~238 bits), so a fast hash is enough to store them safely.

use ring::rand::{SecureRandom, SystemRandom};

pub const KEY_PREFIX: &str = "ahk_";
const BODY_LEN: usize = 40;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Characters after the prefix shown to people to tell keys apart.
const SHOWN: usize = 6;

/// A freshly minted key: `secret` is shown once and then forgotten.
pub struct MintedKey {
    pub secret: String,
    pub hash: String,
    pub prefix: String,
}

pub fn mint() -> MintedKey {
    let rng = SystemRandom::new();
    let mut body = String::with_capacity(BODY_LEN);
    let mut buf = [0u8; 64];
    while body.len() < BODY_LEN {
        rng.fill(&mut buf).expect("system random source");
        // Rejection sampling keeps every character equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if body.len() == BODY_LEN {
                break;
            }
            body.push(ALPHABET[(*b % 62) as usize] as char);
        }
    }
    let secret = format!("{KEY_PREFIX}{body}");
    from_secret(secret)
}

/// Wraps a key chosen elsewhere (the `AGENTHUB_ADMIN_KEY` bootstrap key).
pub fn from_secret(secret: String) -> MintedKey {
    MintedKey {
        hash: hash(&secret),
        prefix: display_prefix(&secret),
        secret,
    }
}

/// Login session tokens (CLI sessions are presented as bearer credentials).
pub const SESSION_PREFIX: &str = "ahs_";

/// `n` random bytes from the system source, base64url without padding.
pub fn random_token(n: usize) -> String {
    use base64::Engine;
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new session token: `ahs_` and 256 random bits.
pub fn mint_session_token() -> String {
    format!("{SESSION_PREFIX}{}", random_token(32))
}

/// The PKCE S256 challenge of a verifier: base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

pub fn hash(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut hex = String::with_capacity(2 * digest.as_ref().len());
    for byte in digest.as_ref() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

fn display_prefix(secret: &str) -> String {
    let shown = secret
        .strip_prefix(KEY_PREFIX)
        .map_or(SHOWN, |_| KEY_PREFIX.len() + SHOWN);
    secret.chars().take(shown).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_are_prefixed_unique_and_hashed() {
        let a = mint();
        let b = mint();
        assert!(a.secret.starts_with("ahk_") && a.secret.len() == 44);
        assert!(a.secret[4..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert_eq!(a.prefix, &a.secret[..10]);
        assert!(!a.hash.contains(&a.secret[4..]));
    }

    #[test]
    fn the_hash_is_lowercase_hex_sha256() {
        // Stored hashes of existing keys must keep matching: FIPS 180-2's "abc" vector.
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
