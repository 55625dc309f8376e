-- Issue 14, item 3: a room's media lives on one node at a time.
--
-- The node whose SFU hosts a room's media holds that room's lease: its id
-- (the node's bus id, which other nodes address signalling to), the media
-- address it advertises (where browsers send media), and an expiry in
-- integer milliseconds since the Unix epoch (UTC), which the node keeps
-- pushing forward while the room has media there. Another node takes the
-- lease over only once it has expired (its holder died) or was released.
CREATE TABLE media_leases (
    session_id    BLOB PRIMARY KEY REFERENCES live_sessions(id),
    node_id       BLOB NOT NULL,
    media_addr    TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX media_leases_node ON media_leases (node_id);
