-- Finished comparisons of a unit under test against a reference standard
-- in a session (issue 10, item 3). Each is one `raw_record` ledger record
-- (原始记录), appended in the transaction that inserts the row; `record`
-- holds the record's content (JSON), which `jiliang verify` re-derives the
-- leaf from. The comparison's settings and readings live in the room log.
CREATE TABLE comparisons (
    id          UUID PRIMARY KEY,
    session_id  UUID NOT NULL REFERENCES live_sessions(id),
    finished_by UUID NOT NULL REFERENCES users(id),
    finished_at TIMESTAMPTZ NOT NULL,
    verdict     TEXT,
    record      TEXT NOT NULL
);
CREATE INDEX comparisons_session ON comparisons (session_id);
