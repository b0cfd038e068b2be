//! The SQLite database (`sotto.db` in `--data-dir`): opening, migrations, and running queries
//! off the async runtime.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

/// The schema, as numbered SQL files in `migrations/`, applied in order at start-up.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../migrations/0001_accounts.sql")),
        M::up(include_str!(
            "../../migrations/0002_key_ids_never_reused.sql"
        )),
    ])
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database task failed")]
    Task,
}

/// A shared connection. SQLite serialises writers anyway, and every query here is a few
/// microseconds; the mutex is only ever taken on a blocking thread.
#[derive(Clone)]
pub struct Database {
    connection: Arc<Mutex<Connection>>,
}

impl Database {
    /// Opens (creating if needed) `sotto.db` in `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        restrict_to_owner(data_dir);
        let path = data_dir.join("sotto.db");
        create_private(&path)?;
        let mut connection =
            Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;
                 -- Deleted rows are overwritten, not just unlinked: a deleted account leaves
                 -- nothing readable behind in the file.
                 PRAGMA secure_delete = ON;",
            )
            .context("configuring the database")?;
        migrations()
            .to_latest(&mut connection)
            .context("migrating the database")?;
        // SQLite gives its -wal and -shm files the database file's mode; these were left
        // readable to others by versions that created the database with the default umask.
        for file in [path.clone(), sidecar(&path, "-wal"), sidecar(&path, "-shm")] {
            if file.exists() {
                restrict_to_owner(&file);
            }
        }
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// A number that changes whenever another connection (another process, such as
    /// `sotto keys revoke`) has committed a change since the last call.
    pub async fn data_version(&self) -> Result<i64, StorageError> {
        self.call(|conn| conn.query_row("PRAGMA data_version", [], |row| row.get(0)))
            .await
    }

    /// Runs `work` with the connection on a blocking thread.
    pub async fn call<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut connection)
        })
        .await
        .map_err(|_| StorageError::Task)?
        .map_err(StorageError::from)
    }
}

/// Creates the database file readable and writable by its owner only, before SQLite opens it:
/// SQLite creates the -wal and -shm files with the same mode.
fn create_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The data directory and database are for the server's user only.
fn restrict_to_owner(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if path.is_dir() { 0o700 } else { 0o600 };
    if let Err(error) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        tracing::warn!(%error, path = %path.display(), "could not restrict permissions");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}
