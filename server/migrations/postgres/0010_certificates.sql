-- Calibration certificates (校准证书, issue 11 items 3-4). One row per
-- issued certificate: its number (JL-<year>-<seq>, seq counted per year),
-- what it certifies (the source record: a finished comparison's
-- `raw_record`, later a published round report), who signed it, and its
-- status. `content` is the certificate document (administrative data and
-- results) as JSON: the PDF and the DCC XML are rendered from it, and it is
-- hashed into a `certificate` ledger leaf (id = number), appended in the
-- transaction that inserts the row. Revoking or superseding changes the
-- status columns only; the leaf stays (it proves what was issued).
CREATE TABLE certificates (
    number          TEXT PRIMARY KEY,
    year            INTEGER NOT NULL,
    seq             BIGINT NOT NULL,
    source_kind     TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    lab_id          UUID NOT NULL REFERENCES institutions(id),
    customer_id     UUID REFERENCES institutions(id),
    issued_by       UUID NOT NULL REFERENCES users(id),
    issued_at       TIMESTAMPTZ NOT NULL,
    status          TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked', 'superseded')),
    status_reason   TEXT,
    status_at       TIMESTAMPTZ,
    status_by       UUID REFERENCES users(id),
    superseded_by   TEXT REFERENCES certificates(number),
    supersedes      TEXT REFERENCES certificates(number),
    content         TEXT NOT NULL,
    UNIQUE (year, seq)
);
CREATE INDEX certificates_source ON certificates (source_kind, source_id);
CREATE INDEX certificates_lab ON certificates (lab_id, issued_at);
CREATE INDEX certificates_customer ON certificates (customer_id, issued_at);
