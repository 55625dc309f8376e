-- Issue 15, items 2 and 6: presence out of the durable log, and the log's
-- lookups by event id indexed.

-- Record lookups (exports, inclusion proofs, verification) find an event by
-- its id; the primary key is (session_id, seq), so without this each lookup
-- scanned every room's log.
CREATE INDEX room_events_id ON room_events (id);

-- Who is connected to which room through which node, right now. A row lives
-- while its node keeps it fresh (heartbeats push `expires_at_ms` forward); a
-- node that dies stops refreshing, and any node's sweep removes its rows once
-- they expire. Times are integer milliseconds since the Unix epoch (UTC):
-- they compare as numbers on both databases.
CREATE TABLE room_presence (
    session_id    BLOB NOT NULL REFERENCES live_sessions(id),
    user_id       BLOB NOT NULL REFERENCES users(id),
    node_id       BLOB NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (session_id, user_id, node_id)
);
CREATE INDEX room_presence_node ON room_presence (node_id);
CREATE INDEX room_presence_expiry ON room_presence (expires_at_ms);

-- One row per person per room: whether their current stretch of presence
-- has a durable `join` in the log without its `leave` yet. Flipped by
-- conditional updates, so whichever nodes race, a stretch gets one durable
-- join and one durable leave.
CREATE TABLE room_attendance (
    session_id BLOB NOT NULL REFERENCES live_sessions(id),
    user_id    BLOB NOT NULL REFERENCES users(id),
    present    BOOLEAN NOT NULL,
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX room_attendance_present ON room_attendance (present) WHERE present = TRUE;
