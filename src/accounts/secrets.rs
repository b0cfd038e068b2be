//! Random tokens and keys, and the hashes under which they are stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "sk-sotto-";
/// Characters of a key shown on the account page (the prefix plus four random ones).
const DISPLAY_LEN: usize = API_KEY_PREFIX.len() + 4;

/// 256 random bits from the OS, URL-safe base64 (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new API key and the short prefix shown to tell it apart.
pub fn new_api_key() -> (String, String) {
    let key = format!("{API_KEY_PREFIX}{}", random_token());
    let display = key[..DISPLAY_LEN].to_owned();
    (key, display)
}

/// Tokens and keys carry 256 random bits, so a plain SHA-256 is enough to store them (OWASP).
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_long_and_distinct() {
        let (key, display) = new_api_key();
        assert!(key.starts_with("sk-sotto-") && key.len() == 9 + 43);
        assert!(key.starts_with(&display));
        assert_ne!(new_api_key().0, key);
        assert_eq!(hash(&key).len(), 32);
    }
}
