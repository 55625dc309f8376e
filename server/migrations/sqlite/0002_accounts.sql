-- People, roles, server-side sessions, one-time tokens, audit log, login throttling.
CREATE TABLE users (
    id                  BLOB PRIMARY KEY NOT NULL,
    username            TEXT NOT NULL,           -- stored lower-case
    display_name        TEXT NOT NULL,
    email               TEXT,                    -- stored lower-case
    phone               TEXT,                    -- digits only
    institution_id      BLOB NOT NULL REFERENCES institutions(id),
    password_hash       TEXT,                    -- argon2id PHC string; NULL until set
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    password_changed_at TEXT
);
CREATE UNIQUE INDEX users_username ON users (username);
CREATE UNIQUE INDEX users_email ON users (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_phone ON users (phone) WHERE phone IS NOT NULL;
CREATE INDEX users_institution ON users (institution_id);

CREATE TABLE user_roles (
    user_id BLOB NOT NULL REFERENCES users(id),
    role    TEXT NOT NULL CHECK (role IN ('admin', 'expert', 'technician', 'trainee')),
    PRIMARY KEY (user_id, role)
);

-- The cookie holds a random token; only its SHA-256 is stored, so a leaked
-- database does not yield live sessions.
CREATE TABLE auth_sessions (
    token_hash   BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users(id),
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

-- Invitations and password resets: one-time links, stored hashed.
CREATE TABLE one_time_tokens (
    id             BLOB PRIMARY KEY NOT NULL,
    token_hash     BLOB NOT NULL UNIQUE,
    purpose        TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    user_id        BLOB REFERENCES users(id),
    institution_id BLOB NOT NULL REFERENCES institutions(id),
    display_name   TEXT NOT NULL,
    email          TEXT,
    phone          TEXT,
    roles          TEXT NOT NULL DEFAULT '',   -- comma-separated role names
    created_by     BLOB REFERENCES users(id),
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    used_at        TEXT
);
CREATE INDEX one_time_tokens_institution ON one_time_tokens (institution_id);

-- Ids are UUIDv7 (time-ordered), so paging by id is paging by time.
CREATE TABLE audit_log (
    id             BLOB PRIMARY KEY NOT NULL,
    at             TEXT NOT NULL,
    event          TEXT NOT NULL,
    actor_id       BLOB REFERENCES users(id),
    target_user_id BLOB REFERENCES users(id),
    institution_id BLOB REFERENCES institutions(id),
    institution_path TEXT,
    ip             TEXT,
    user_agent     TEXT,
    detail         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_path ON audit_log (institution_path);
CREATE INDEX audit_log_event ON audit_log (event);

-- Failed logins per account and per client address, shared by every node.
CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY NOT NULL,
    failures     BIGINT NOT NULL,
    window_start TEXT NOT NULL,
    locked_until TEXT
);
