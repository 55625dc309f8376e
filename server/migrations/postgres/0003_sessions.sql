-- Live sessions (rooms), who takes part, help requests, and each room's log.
CREATE TABLE live_sessions (
    id               UUID PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('scheduled', 'help')),
    title            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL CHECK (state IN ('scheduled', 'live', 'ended')),
    scheduled_start  TIMESTAMPTZ NOT NULL,
    duration_minutes BIGINT NOT NULL,
    host_id          UUID NOT NULL REFERENCES users(id),
    host_institution_path TEXT NOT NULL,
    help_request_id  UUID,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    ended_at         TIMESTAMPTZ,
    -- The room's sequence counter: incremented in the same transaction that
    -- stores an event, so sequence numbers have no gaps and no duplicates
    -- whichever node writes.
    last_seq         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX live_sessions_start ON live_sessions (scheduled_start);

CREATE TABLE session_labs (
    session_id     UUID NOT NULL REFERENCES live_sessions(id),
    institution_id UUID NOT NULL REFERENCES institutions(id),
    PRIMARY KEY (session_id, institution_id)
);
CREATE INDEX session_labs_institution ON session_labs (institution_id);

CREATE TABLE session_participants (
    session_id UUID NOT NULL REFERENCES live_sessions(id),
    user_id    UUID NOT NULL REFERENCES users(id),
    host       BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX session_participants_user ON session_participants (user_id);

CREATE TABLE help_requests (
    id             UUID PRIMARY KEY,
    institution_id UUID NOT NULL REFERENCES institutions(id),
    institution_path TEXT NOT NULL,
    requested_by   UUID NOT NULL REFERENCES users(id),
    topic          TEXT NOT NULL,
    instrument     TEXT NOT NULL,
    urgency        TEXT NOT NULL CHECK (urgency IN ('low', 'normal', 'high', 'critical')),
    details        TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'cancelled')),
    created_at     TIMESTAMPTZ NOT NULL,
    accepted_by    UUID REFERENCES users(id),
    accepted_at    TIMESTAMPTZ,
    session_id     UUID REFERENCES live_sessions(id)
);
CREATE INDEX help_requests_path ON help_requests (institution_path text_pattern_ops);

CREATE TABLE room_events (
    session_id UUID NOT NULL REFERENCES live_sessions(id),
    seq        BIGINT NOT NULL,
    id         UUID NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    author_id  UUID REFERENCES users(id),
    client_id  TEXT,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,          -- the event body as JSON
    PRIMARY KEY (session_id, seq)
);
-- A message re-sent after a reconnect is stored once.
CREATE UNIQUE INDEX room_events_client ON room_events (session_id, author_id, client_id)
    WHERE client_id IS NOT NULL;
