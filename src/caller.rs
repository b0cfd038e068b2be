//! Who a request's cached prompt prefix belongs to: one API key or one browser session, never
//! a whole user and never shared. Owners are digests, so the engine holds no key or token.
//!
//! Revoking a key or ending a session drops its owner's cache at once when the server itself
//! does it. The command line (`sotto keys revoke`, `sotto users delete`) runs in another
//! process, so [`forget_revoked`] watches the database for changes made elsewhere and then
//! keeps only the owners whose credentials still exist.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::accounts::{Accounts, Credentials};
use crate::engine::CacheOwner;
use crate::models::ModelRegistry;

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

/// From the SHA-256 of the API key, as stored in the database. Keys are random, so an owner
/// never comes back once its key is revoked (an id could: see migration 0002).
pub fn api_key_hash(key_hash: &[u8]) -> CacheOwner {
    digest(b"key\0", key_hash)
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

/// Every owner the credentials stand for.
pub fn owners(credentials: &Credentials) -> impl Iterator<Item = CacheOwner> + '_ {
    let keys = credentials.key_hashes.iter().map(|hash| api_key_hash(hash));
    let sessions = credentials
        .session_hashes
        .iter()
        .map(|hash| session_hash(hash));
    keys.chain(sessions)
}

/// How often the database is asked whether another process changed it (a cheap pragma).
const POLL: Duration = Duration::from_secs(1);

/// Runs for the server's lifetime: after another process changes the database, drops the
/// cached prompts of every owner whose key or session no longer exists.
pub async fn forget_revoked(accounts: Accounts, registry: Arc<ModelRegistry>, anonymous_too: bool) {
    let mut seen = accounts.data_version().await.ok();
    loop {
        tokio::time::sleep(POLL).await;
        let version = accounts.data_version().await.ok();
        if version == seen {
            continue;
        }
        seen = version;
        match accounts.credentials(None).await {
            Ok(credentials) => {
                let mut live: HashSet<CacheOwner> = owners(&credentials).collect();
                if anonymous_too {
                    live.insert(anonymous());
                }
                registry.keep_only(live);
            }
            Err(error) => tracing::error!(%error, "listing credentials failed"),
        }
    }
}
