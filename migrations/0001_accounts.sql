-- Accounts: the only data sotto keeps. Nothing here records what a user says, when they were
-- last active, or where they connect from: no prompt, completion, token count, IP address or
-- user agent has a column, and none may ever get one (tests/privacy.rs checks the schema).

-- A user is an email and a password hash. `created_at` is a date (YYYY-MM-DD), not a time.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    -- Normalised (trimmed, lower case) so that login is case-insensitive.
    email         TEXT NOT NULL UNIQUE,
    -- Argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;

-- A browser session. The cookie holds a random 256-bit token; only its SHA-256 is stored, so
-- a copy of the database cannot be used to log in. Times are Unix seconds: `created_at` bounds
-- the absolute lifetime, `expires_at` the idle one (moved forward at most once a day).
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions(user_id);

-- An API key (sk-sotto-...). Only its SHA-256 is stored; `prefix` is the first characters,
-- shown so the owner can tell keys apart. `created_at` is a date.
CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX api_keys_by_user ON api_keys(user_id);
