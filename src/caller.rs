//! Who a request's cached prompt prefix belongs to: one API key or one browser session, never
//! a whole user and never shared. Owners are digests, so the engine holds no key or token.

use sha2::{Digest, Sha256};

use crate::engine::CacheOwner;

fn digest(kind: &[u8], id: &[u8]) -> CacheOwner {
    CacheOwner(
        Sha256::new()
            .chain_update(b"sotto-cache\0")
            .chain_update(kind)
            .chain_update(id)
            .finalize()
            .into(),
    )
}

pub fn api_key(key_id: i64) -> CacheOwner {
    digest(b"key\0", &key_id.to_le_bytes())
}

/// From the SHA-256 of the session token, as stored in the database.
pub fn session_hash(token_hash: &[u8]) -> CacheOwner {
    digest(b"session\0", token_hash)
}

pub fn session(token: &str) -> CacheOwner {
    session_hash(&Sha256::digest(token.as_bytes()))
}

/// With `--auth off` there is one caller: whoever owns the machine.
pub fn anonymous() -> CacheOwner {
    digest(b"anonymous", b"")
}
