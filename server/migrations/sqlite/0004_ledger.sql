-- The tamper-evident log (RFC 6962 Merkle tree) of every measurement record.
-- `size` is the next leaf index, counted in the same transaction that stores
-- a leaf, so indices are gap-free whichever node writes.
CREATE TABLE ledger_state (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO ledger_state (id, size) VALUES (1, 0);

CREATE TABLE ledger_leaves (
    idx           BIGINT PRIMARY KEY,
    kind          TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    payload       TEXT NOT NULL,    -- canonical JSON, the exact bytes hashed
    leaf_hash     BLOB NOT NULL     -- SHA-256(0x00 || leaf data)
);
CREATE UNIQUE INDEX ledger_leaves_record ON ledger_leaves (kind, record_id);

-- Signed tree heads, one per published size.
CREATE TABLE ledger_heads (
    size         BIGINT PRIMARY KEY,
    timestamp_ms BIGINT NOT NULL,
    root_hash    BLOB NOT NULL,
    signature    BLOB NOT NULL,
    public_key   BLOB NOT NULL
);

-- Public keys that have signed heads (the secret stays in the key file).
CREATE TABLE ledger_keys (
    public_key BLOB PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL
);
