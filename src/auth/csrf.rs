//! The chat page's anti-CSRF token: derived from the session token, which is secret
//! (`HttpOnly`), so another site can neither read nor forge it, and nothing extra is stored.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub(crate) fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"sotto-csrf\0")
        .chain_update(session_token.as_bytes())
        .finalize();
    format!("{digest:x}")
}

/// Whether `sent` is the token of this session, compared in constant time.
pub(crate) fn csrf_token_matches(session_token: &str, sent: Option<&str>) -> bool {
    sent.is_some_and(|sent| {
        csrf_token(session_token)
            .as_bytes()
            .ct_eq(sent.as_bytes())
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_hex_and_bound_to_the_session() {
        let token = csrf_token("session-a");
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(csrf_token_matches("session-a", Some(&token)));
        assert!(!csrf_token_matches("session-b", Some(&token)));
        assert!(!csrf_token_matches("session-a", None));
        assert!(!csrf_token_matches("session-a", Some("")));
    }
}
