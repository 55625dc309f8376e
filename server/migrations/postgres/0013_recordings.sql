-- Issue 14, item 6: recordings of live sessions.
--
-- A span of recording, from the host's start to its stop (or the end of
-- the session). At most one open span per session: the partial unique
-- index makes a second start fail however nodes race. A span stays open
-- across a node's restart; recording resumes when media does.
CREATE TABLE recordings (
    id          UUID PRIMARY KEY,
    session_id  UUID NOT NULL REFERENCES live_sessions(id),
    started_by  UUID NOT NULL REFERENCES users(id),
    started_at  TIMESTAMPTZ NOT NULL,
    stopped_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX recordings_open ON recordings (session_id) WHERE stopped_at IS NULL;

-- One WebM file of a span: a publisher's camera (with their microphone
-- when both were recorded together), screen or microphone. A ready file
-- has its SHA-256 in the ledger (kind `recording`, id = this id); a failed
-- one says why, and its raw tracks stay on disk for the operator.
CREATE TABLE recording_files (
    id            UUID PRIMARY KEY,
    recording_id  UUID NOT NULL REFERENCES recordings(id),
    session_id    UUID NOT NULL REFERENCES live_sessions(id),
    publisher_id  UUID NOT NULL REFERENCES users(id),
    kind          TEXT NOT NULL,
    with_audio    BOOLEAN NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    duration_ms   BIGINT NOT NULL,
    bytes         BIGINT NOT NULL,
    sha256        TEXT,
    status        TEXT NOT NULL,
    reason        TEXT,
    file_name     TEXT
);
CREATE INDEX recording_files_session ON recording_files (session_id, started_at);
