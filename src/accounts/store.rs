//! The SQL behind accounts. Plain functions on a connection; `Accounts` runs them off the
//! async runtime.

use rusqlite::{params, Connection, OptionalExtension};

use super::{ApiKeyInfo, Credentials, User};

/// A user from the first three columns of a row: id, email, created_at.
fn user_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        created_at: row.get(2)?,
    })
}

pub fn insert_user(
    conn: &Connection,
    email: &str,
    hash: &str,
    today: &str,
) -> rusqlite::Result<Option<User>> {
    let inserted = conn.execute(
        "INSERT INTO users (email, password_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT(email) DO NOTHING",
        params![email, hash, today],
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    Ok(Some(User {
        id: conn.last_insert_rowid(),
        email: email.to_owned(),
        created_at: today.to_owned(),
    }))
}

/// The user and their password hash.
pub fn user_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<(User, String)>> {
    conn.query_row(
        "SELECT id, email, created_at, password_hash FROM users WHERE email = ?1",
        params![email],
        |row| Ok((user_from(row)?, row.get(3)?)),
    )
    .optional()
}

pub fn users(conn: &Connection) -> rusqlite::Result<Vec<User>> {
    let mut statement = conn.prepare("SELECT id, email, created_at FROM users ORDER BY email")?;
    let rows = statement.query_map([], user_from)?;
    rows.collect()
}

pub fn set_password(conn: &mut Connection, user_id: i64, hash: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE users SET password_hash = ?1 WHERE id = ?2",
        params![hash, user_id],
    )?;
    // A new password ends every session, so a stolen cookie stops working.
    tx.execute("DELETE FROM sessions WHERE user_id = ?1", params![user_id])?;
    tx.commit()
}

/// Deletes the user, their sessions and their keys in one transaction, then folds the WAL into
/// the database file, where `secure_delete` has zeroed the freed rows.
pub fn delete_user(conn: &mut Connection, user_id: i64) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM sessions WHERE user_id = ?1", params![user_id])?;
    tx.execute("DELETE FROM api_keys WHERE user_id = ?1", params![user_id])?;
    let deleted = tx.execute("DELETE FROM users WHERE id = ?1", params![user_id])?;
    tx.commit()?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(deleted == 1)
}

pub fn insert_session(
    conn: &Connection,
    token_hash: &[u8],
    user_id: i64,
    now: i64,
    expires: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![token_hash, user_id, now, expires],
    )?;
    Ok(())
}

/// The session's user with the session's creation and expiry times.
pub fn session(conn: &Connection, token_hash: &[u8]) -> rusqlite::Result<Option<(User, i64, i64)>> {
    conn.query_row(
        "SELECT u.id, u.email, u.created_at, s.created_at, s.expires_at
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1",
        params![token_hash],
        |row| Ok((user_from(row)?, row.get(3)?, row.get(4)?)),
    )
    .optional()
}

pub fn set_session_expiry(
    conn: &Connection,
    token_hash: &[u8],
    expires: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sessions SET expires_at = ?1 WHERE token_hash = ?2",
        params![expires, token_hash],
    )?;
    Ok(())
}

pub fn delete_session(conn: &Connection, token_hash: &[u8]) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM sessions WHERE token_hash = ?1",
        params![token_hash],
    )?;
    Ok(())
}

pub fn delete_sessions_of(conn: &Connection, user_id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE user_id = ?1", params![user_id])?;
    Ok(())
}

pub fn delete_expired_sessions(conn: &Connection, now: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])
}

pub fn insert_key(
    conn: &Connection,
    user_id: i64,
    name: &str,
    prefix: &str,
    key_hash: &[u8],
    today: &str,
) -> rusqlite::Result<ApiKeyInfo> {
    conn.execute(
        "INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user_id, name, prefix, key_hash, today],
    )?;
    Ok(ApiKeyInfo {
        id: conn.last_insert_rowid(),
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        created_at: today.to_owned(),
    })
}

pub fn keys(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<ApiKeyInfo>> {
    let mut statement = conn.prepare(
        "SELECT id, name, prefix, created_at FROM api_keys WHERE user_id = ?1 ORDER BY id",
    )?;
    let rows = statement.query_map(params![user_id], |row| {
        Ok(ApiKeyInfo {
            id: row.get(0)?,
            name: row.get(1)?,
            prefix: row.get(2)?,
            created_at: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// Deletes a key; `owner` limits it to one user's keys (the CLI may revoke any). Returns the
/// key's hash.
pub fn delete_key(
    conn: &Connection,
    key_id: i64,
    owner: Option<i64>,
) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row(
        "DELETE FROM api_keys WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2) RETURNING key_hash",
        params![key_id, owner],
        |row| row.get(0),
    )
    .optional()
}

pub fn key_exists(conn: &Connection, key_hash: &[u8]) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE key_hash = ?1)",
        params![key_hash],
        |row| row.get(0),
    )
}

/// The hashes of the keys and session tokens of one user, or of everyone (`None`).
pub fn credentials(conn: &Connection, user_id: Option<i64>) -> rusqlite::Result<Credentials> {
    let mut keys =
        conn.prepare("SELECT key_hash FROM api_keys WHERE ?1 IS NULL OR user_id = ?1")?;
    let keys = keys
        .query_map(params![user_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut sessions =
        conn.prepare("SELECT token_hash FROM sessions WHERE ?1 IS NULL OR user_id = ?1")?;
    let sessions = sessions
        .query_map(params![user_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Credentials {
        key_hashes: keys,
        session_hashes: sessions,
    })
}
