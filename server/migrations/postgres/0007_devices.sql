-- Instruments registered to a lab, their agent tokens, their readings
-- (stored exactly once per (device_id, seq)) and the batches they were
-- stored in (each batch one `reading_batch` ledger record).
CREATE TABLE devices (
    id            UUID PRIMARY KEY,
    lab_id        UUID NOT NULL REFERENCES institutions(id),
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    quantity      TEXT NOT NULL,
    unit          TEXT NOT NULL,     -- UCUM code; every reading carries it
    resolution    DOUBLE PRECISION,
    -- The reference standard's certificate; all NULL when it is not one.
    ref_certificate_no TEXT,
    ref_issuer         TEXT,
    ref_expanded_uncertainty DOUBLE PRECISION,
    ref_k              DOUBLE PRECISION,
    ref_unit           TEXT,
    ref_valid_until    DATE,
    -- SHA-256 of the agent token (the token itself is shown once and never
    -- stored); a revoked token keeps its hash with token_revoked_at set.
    token_hash       BYTEA NOT NULL,
    token_revoked_at TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    UUID NOT NULL REFERENCES users(id),
    updated_at    TIMESTAMPTZ NOT NULL,
    -- Highest stored seq: moved in the transaction that stores readings,
    -- whose UPDATE of this row also serialises a device's batches.
    last_seq      BIGINT NOT NULL DEFAULT 0,
    agent_connected_at TIMESTAMPTZ,
    -- The session whose room receives the readings (while it is live).
    session_id    UUID REFERENCES live_sessions(id),
    attached_at   TIMESTAMPTZ,
    attached_by   UUID REFERENCES users(id)
);
CREATE UNIQUE INDEX devices_token ON devices (token_hash);
CREATE INDEX devices_lab ON devices (lab_id);
CREATE INDEX devices_session ON devices (session_id) WHERE session_id IS NOT NULL;

CREATE TABLE reading_batches (
    id         UUID PRIMARY KEY,
    device_id  UUID NOT NULL REFERENCES devices(id),
    source     TEXT NOT NULL CHECK (source IN ('agent', 'manual')),
    unit       TEXT NOT NULL,
    first_seq  BIGINT NOT NULL,
    last_seq   BIGINT NOT NULL,
    count      BIGINT NOT NULL,
    stored_at  TIMESTAMPTZ NOT NULL,
    -- Manual entries: who typed them and the client's key (a resend with the
    -- same key returns this batch).
    entered_by UUID REFERENCES users(id),
    client_key TEXT
);
CREATE INDEX reading_batches_device ON reading_batches (device_id, first_seq);
CREATE UNIQUE INDEX reading_batches_key ON reading_batches (device_id, client_key)
    WHERE client_key IS NOT NULL;

CREATE TABLE device_readings (
    device_id UUID NOT NULL REFERENCES devices(id),
    seq       BIGINT NOT NULL,
    t         TIMESTAMPTZ NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    u_t       DOUBLE PRECISION NOT NULL,
    batch_id  UUID NOT NULL REFERENCES reading_batches(id),
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX device_readings_batch ON device_readings (batch_id);
