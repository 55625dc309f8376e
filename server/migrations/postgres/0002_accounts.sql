-- People, roles, server-side sessions, one-time tokens, audit log, login throttling.
CREATE TABLE users (
    id                  UUID PRIMARY KEY,
    username            TEXT NOT NULL,           -- stored lower-case
    display_name        TEXT NOT NULL,
    email               TEXT,                    -- stored lower-case
    phone               TEXT,                    -- digits only
    institution_id      UUID NOT NULL REFERENCES institutions(id),
    password_hash       TEXT,                    -- argon2id PHC string; NULL until set
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    password_changed_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX users_username ON users (username);
CREATE UNIQUE INDEX users_email ON users (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX users_phone ON users (phone) WHERE phone IS NOT NULL;
CREATE INDEX users_institution ON users (institution_id);

CREATE TABLE user_roles (
    user_id UUID NOT NULL REFERENCES users(id),
    role    TEXT NOT NULL CHECK (role IN ('admin', 'expert', 'technician', 'trainee')),
    PRIMARY KEY (user_id, role)
);

-- The cookie holds a random token; only its SHA-256 is stored, so a leaked
-- database does not yield live sessions.
CREATE TABLE auth_sessions (
    token_hash   BYTEA PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users(id),
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

-- Invitations and password resets: one-time links, stored hashed.
CREATE TABLE one_time_tokens (
    id             UUID PRIMARY KEY,
    token_hash     BYTEA NOT NULL UNIQUE,
    purpose        TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    user_id        UUID REFERENCES users(id),
    institution_id UUID NOT NULL REFERENCES institutions(id),
    display_name   TEXT NOT NULL,
    email          TEXT,
    phone          TEXT,
    roles          TEXT NOT NULL DEFAULT '',   -- comma-separated role names
    created_by     UUID REFERENCES users(id),
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    used_at        TIMESTAMPTZ
);
CREATE INDEX one_time_tokens_institution ON one_time_tokens (institution_id);

-- Ids are UUIDv7 (time-ordered), so paging by id is paging by time.
CREATE TABLE audit_log (
    id             UUID PRIMARY KEY,
    at             TIMESTAMPTZ NOT NULL,
    event          TEXT NOT NULL,
    actor_id       UUID REFERENCES users(id),
    target_user_id UUID REFERENCES users(id),
    institution_id UUID REFERENCES institutions(id),
    institution_path TEXT,
    ip             TEXT,
    user_agent     TEXT,
    detail         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_path ON audit_log (institution_path text_pattern_ops);
CREATE INDEX audit_log_event ON audit_log (event);

-- Failed logins per account and per client address, shared by every node.
CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ
);
