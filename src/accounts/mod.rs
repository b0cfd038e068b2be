//! Accounts: users (an email and a password hash), browser sessions and API keys. Nothing else
//! about a person is stored, and nothing at all about what they say.

mod password;
mod secrets;
mod store;
mod throttle;

use std::time::Duration;

use crate::clock::{self, Clock};
use crate::storage::{Database, StorageError};
pub use password::{MAX_LEN as PASSWORD_MAX, MIN_LEN as PASSWORD_MIN};
pub use secrets::API_KEY_PREFIX;
pub use throttle::{LoginThrottle, Subject};

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_at: String,
}

/// The hashes under which keys and session tokens are stored: what cached prompts are keyed by.
#[derive(Debug, Default)]
pub struct Credentials {
    pub key_hashes: Vec<Vec<u8>>,
    pub session_hashes: Vec<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("enter a valid email address")]
    InvalidEmail,
    #[error("the password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long")]
    PasswordLength,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("the email or the password is wrong")]
    WrongCredentials,
    #[error("no such account")]
    NotFound,
    #[error("key names are 1 to 64 characters")]
    KeyName,
    /// Too many password checks at once: the caller should answer 503 and try later.
    #[error("the server is busy checking passwords")]
    Busy,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("internal error")]
    Internal,
}

/// How long browser sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Unused for this long, a session ends.
    pub idle: Duration,
    /// A session ends this long after login, used or not.
    pub absolute: Duration,
}

#[derive(Clone)]
pub struct Accounts {
    db: Database,
    policy: SessionPolicy,
    hasher: password::Hasher,
    clock: Clock,
}

/// Trimmed and lower-cased; `None` if it does not look like an address.
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let valid = (3..=254).contains(&email.len())
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    valid.then_some(email)
}

impl Accounts {
    pub fn new(db: Database, policy: SessionPolicy, clock: Clock) -> Self {
        password::warm_up();
        Self {
            db,
            policy,
            hasher: password::Hasher::new(),
            clock,
        }
    }

    pub async fn create_user(&self, email: &str, password: String) -> Result<User, AccountError> {
        let email = normalize_email(email).ok_or(AccountError::InvalidEmail)?;
        if !password::acceptable(&password) {
            return Err(AccountError::PasswordLength);
        }
        let hash = self.hasher.hash(password).await?;
        let today = clock::today();
        self.db
            .call(move |conn| store::insert_user(conn, &email, &hash, &today))
            .await?
            .ok_or(AccountError::EmailTaken)
    }

    /// The user whose email and password these are. Unknown emails cost the same time as wrong
    /// passwords and give the same error.
    pub async fn authenticate(&self, email: &str, password: String) -> Result<User, AccountError> {
        let email = normalize_email(email).unwrap_or_default();
        let found = self
            .db
            .call(move |conn| store::user_by_email(conn, &email))
            .await?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let long_enough = password::acceptable(&password);
        let verified = self.hasher.verify(password, hash).await?;
        match user {
            Some(user) if verified && long_enough => Ok(user),
            _ => Err(AccountError::WrongCredentials),
        }
    }

    pub async fn user_by_email(&self, email: &str) -> Result<User, AccountError> {
        let email = normalize_email(email).ok_or(AccountError::NotFound)?;
        let found = self
            .db
            .call(move |conn| store::user_by_email(conn, &email))
            .await?;
        found.map(|(user, _)| user).ok_or(AccountError::NotFound)
    }

    pub async fn users(&self) -> Result<Vec<User>, AccountError> {
        Ok(self.db.call(|conn| store::users(conn)).await?)
    }

    pub async fn set_password(&self, user_id: i64, password: String) -> Result<(), AccountError> {
        if !password::acceptable(&password) {
            return Err(AccountError::PasswordLength);
        }
        let hash = self.hasher.hash(password).await?;
        Ok(self
            .db
            .call(move |conn| store::set_password(conn, user_id, &hash))
            .await?)
    }

    /// Removes the user with their sessions and keys; nothing about them remains.
    pub async fn delete_user(&self, user_id: i64) -> Result<(), AccountError> {
        let deleted = self
            .db
            .call(move |conn| store::delete_user(conn, user_id))
            .await?;
        if deleted {
            Ok(())
        } else {
            Err(AccountError::NotFound)
        }
    }

    /// A new session; returns the token for the cookie (only its hash is stored).
    pub async fn start_session(&self, user_id: i64) -> Result<String, AccountError> {
        let token = secrets::random_token();
        let token_hash = secrets::hash(&token);
        let now = self.clock.now_secs();
        let expires = now + secs(self.policy.idle).min(secs(self.policy.absolute));
        self.db
            .call(move |conn| {
                store::delete_expired_sessions(conn, now)?;
                store::insert_session(conn, &token_hash, user_id, now, expires)
            })
            .await?;
        Ok(token)
    }

    /// The user of a live session. Use moves the idle expiry forward, at most once a day (or a
    /// quarter of the idle window, if that is shorter) so the table does not become a record of
    /// activity.
    pub async fn session_user(&self, token: &str) -> Result<Option<User>, AccountError> {
        let token_hash = secrets::hash(token);
        let policy = self.policy;
        let clock = self.clock.clone();
        let user = self
            .db
            .call(move |conn| {
                let Some((user, created, expires)) = store::session(conn, &token_hash)? else {
                    return Ok(None);
                };
                let now = clock.now_secs();
                let hard_end = created + secs(policy.absolute);
                if now >= expires || now >= hard_end {
                    store::delete_session(conn, &token_hash)?;
                    return Ok(None);
                }
                let wanted = now + secs(policy.idle);
                let slid = wanted.min(hard_end);
                // A whole day's step would never be taken with an idle window under a day: such
                // sessions ended at their first expiry however much they were used. The step is
                // measured before the absolute end caps it, or the last one, shortened by the
                // cap, would not be taken and a session in use would end early.
                let step = (secs(policy.idle) / 4).min(86_400);
                if wanted - expires >= step && slid > expires {
                    store::set_session_expiry(conn, &token_hash, slid)?;
                }
                Ok(Some(user))
            })
            .await?;
        Ok(user)
    }

    /// Ends every session of the user.
    pub async fn end_all_sessions(&self, user_id: i64) -> Result<(), AccountError> {
        Ok(self
            .db
            .call(move |conn| store::delete_sessions_of(conn, user_id))
            .await?)
    }

    pub async fn end_session(&self, token: &str) -> Result<(), AccountError> {
        let token_hash = secrets::hash(token);
        Ok(self
            .db
            .call(move |conn| store::delete_session(conn, &token_hash))
            .await?)
    }

    /// A new API key: returns its details and the key itself, which is shown once.
    pub async fn create_key(
        &self,
        user_id: i64,
        name: &str,
    ) -> Result<(ApiKeyInfo, String), AccountError> {
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(AccountError::KeyName);
        }
        let (key, prefix) = secrets::new_api_key();
        let key_hash = secrets::hash(&key);
        let today = clock::today();
        let info = self
            .db
            .call(move |conn| store::insert_key(conn, user_id, &name, &prefix, &key_hash, &today))
            .await?;
        Ok((info, key))
    }

    pub async fn keys(&self, user_id: i64) -> Result<Vec<ApiKeyInfo>, AccountError> {
        Ok(self.db.call(move |conn| store::keys(conn, user_id)).await?)
    }

    /// Revokes a key: of `owner` only, or any key when `owner` is `None` (the CLI). Returns the
    /// key's hash.
    pub async fn revoke_key(
        &self,
        key_id: i64,
        owner: Option<i64>,
    ) -> Result<Vec<u8>, AccountError> {
        self.db
            .call(move |conn| store::delete_key(conn, key_id, owner))
            .await?
            .ok_or(AccountError::NotFound)
    }

    /// The stored hash of a valid API key.
    pub async fn key_hash(&self, key: &str) -> Result<Option<Vec<u8>>, AccountError> {
        if !key.starts_with(API_KEY_PREFIX) {
            return Ok(None);
        }
        let key_hash = secrets::hash(key);
        let lookup = key_hash.clone();
        let exists = self
            .db
            .call(move |conn| store::key_exists(conn, &lookup))
            .await?;
        Ok(exists.then_some(key_hash))
    }

    /// The credentials of one user, or of every user (`None`).
    pub async fn credentials(&self, user_id: Option<i64>) -> Result<Credentials, AccountError> {
        Ok(self
            .db
            .call(move |conn| store::credentials(conn, user_id))
            .await?)
    }

    /// Changes whenever another process (the command line) has changed the database.
    pub async fn data_version(&self) -> Result<i64, AccountError> {
        Ok(self.db.data_version().await?)
    }
}

impl From<password::PasswordError> for AccountError {
    fn from(error: password::PasswordError) -> Self {
        match error {
            password::PasswordError::Busy => Self::Busy,
            password::PasswordError::Failed => Self::Internal,
        }
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4)
}
