-- Live sessions (rooms), who takes part, help requests, and each room's log.
CREATE TABLE live_sessions (
    id               BLOB PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('scheduled', 'help')),
    title            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL CHECK (state IN ('scheduled', 'live', 'ended')),
    scheduled_start  TEXT NOT NULL,
    duration_minutes BIGINT NOT NULL,
    host_id          BLOB NOT NULL REFERENCES users(id),
    host_institution_path TEXT NOT NULL,
    help_request_id  BLOB,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    ended_at         TEXT,
    -- The room's sequence counter: incremented in the same transaction that
    -- stores an event, so sequence numbers have no gaps and no duplicates
    -- whichever node writes.
    last_seq         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX live_sessions_start ON live_sessions (scheduled_start);

CREATE TABLE session_labs (
    session_id     BLOB NOT NULL REFERENCES live_sessions(id),
    institution_id BLOB NOT NULL REFERENCES institutions(id),
    PRIMARY KEY (session_id, institution_id)
);
CREATE INDEX session_labs_institution ON session_labs (institution_id);

CREATE TABLE session_participants (
    session_id BLOB NOT NULL REFERENCES live_sessions(id),
    user_id    BLOB NOT NULL REFERENCES users(id),
    host       BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX session_participants_user ON session_participants (user_id);

CREATE TABLE help_requests (
    id             BLOB PRIMARY KEY NOT NULL,
    institution_id BLOB NOT NULL REFERENCES institutions(id),
    institution_path TEXT NOT NULL,
    requested_by   BLOB NOT NULL REFERENCES users(id),
    topic          TEXT NOT NULL,
    instrument     TEXT NOT NULL,
    urgency        TEXT NOT NULL CHECK (urgency IN ('low', 'normal', 'high', 'critical')),
    details        TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'cancelled')),
    created_at     TEXT NOT NULL,
    accepted_by    BLOB REFERENCES users(id),
    accepted_at    TEXT,
    session_id     BLOB REFERENCES live_sessions(id)
);
CREATE INDEX help_requests_path ON help_requests (institution_path);

CREATE TABLE room_events (
    session_id BLOB NOT NULL REFERENCES live_sessions(id),
    seq        BIGINT NOT NULL,
    id         BLOB NOT NULL,
    at         TEXT NOT NULL,
    author_id  BLOB REFERENCES users(id),
    client_id  TEXT,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,          -- the event body as JSON
    PRIMARY KEY (session_id, seq)
);
-- A message re-sent after a reconnect is stored once.
CREATE UNIQUE INDEX room_events_client ON room_events (session_id, author_id, client_id)
    WHERE client_id IS NOT NULL;
