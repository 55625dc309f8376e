-- Accounts and HTTP hardening (issue 15).

-- Installation-wide secrets, generated on first start and shared by every
-- node: the key of the fingerprints stored for unknown typed logins.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- One-time links can be revoked (an invitation withdrawn, or a reset link
-- superseded by a newer reset, a completed reset or a password change).
ALTER TABLE one_time_tokens ADD COLUMN revoked_at TIMESTAMPTZ;
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id, purpose);

-- Institutions are referenced by id; their path is read from the live tree
-- when access is checked, so moving an institution moves everything of it.
ALTER TABLE live_sessions ADD COLUMN host_institution_id UUID REFERENCES institutions(id);
UPDATE live_sessions SET host_institution_id = COALESCE(
    (SELECT i.id FROM institutions i WHERE i.path = live_sessions.host_institution_path),
    (SELECT u.institution_id FROM users u WHERE u.id = live_sessions.host_id));
ALTER TABLE live_sessions ALTER COLUMN host_institution_id SET NOT NULL;
ALTER TABLE live_sessions DROP COLUMN host_institution_path;
CREATE INDEX live_sessions_host_institution ON live_sessions (host_institution_id);

DROP INDEX help_requests_path;
ALTER TABLE help_requests DROP COLUMN institution_path;
CREATE INDEX help_requests_institution ON help_requests (institution_id);

DROP INDEX audit_log_path;
ALTER TABLE audit_log DROP COLUMN institution_path;
CREATE INDEX audit_log_institution ON audit_log (institution_id);
