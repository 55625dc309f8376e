-- Finished comparisons of a unit under test against a reference standard
-- in a session (issue 10, item 3). Each is one `raw_record` ledger record
-- (原始记录), appended in the transaction that inserts the row; `record`
-- holds the record's content (JSON), which `jiliang verify` re-derives the
-- leaf from. The comparison's settings and readings live in the room log.
CREATE TABLE comparisons (
    id          BLOB PRIMARY KEY NOT NULL,
    session_id  BLOB NOT NULL REFERENCES live_sessions(id),
    finished_by BLOB NOT NULL REFERENCES users(id),
    finished_at TEXT NOT NULL,
    verdict     TEXT,
    record      TEXT NOT NULL
);
CREATE INDEX comparisons_session ON comparisons (session_id);
