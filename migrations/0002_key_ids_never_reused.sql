-- API key ids are never issued twice. Without AUTOINCREMENT SQLite hands a deleted row's id to
-- the next insert when it was the highest, so a revoked key's id came back as a new user's key.
-- The prompt cache was once keyed by that id, and a security review read another user's cached
-- prompt through it; it is now keyed by the key's hash, and no id may be recycled either.
-- SQLite cannot add AUTOINCREMENT to a table, so the table is rebuilt with the same columns and
-- rows; `sqlite_sequence` starts from the highest id copied in. (Users are not rebuilt: dropping
-- the old users table would cascade to its sessions and keys, and nothing is keyed by a user
-- id outside this database.)

CREATE TABLE api_keys_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;
INSERT INTO api_keys_new (id, user_id, name, prefix, key_hash, created_at)
    SELECT id, user_id, name, prefix, key_hash, created_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;
CREATE INDEX api_keys_by_user ON api_keys(user_id);
