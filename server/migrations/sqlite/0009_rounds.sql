-- Comparison rounds (计量比对, proficiency testing; issue 11): an expert's
-- round, the labs invited to it (each with its code), their results and
-- attachments. Publishing stores the report as one `round_report` ledger
-- record, appended in the transaction that marks the round published;
-- `record` holds that record's content (JSON).
CREATE TABLE rounds (
    id              BLOB PRIMARY KEY NOT NULL,
    title           TEXT NOT NULL,
    artefact        TEXT NOT NULL,
    quantity        TEXT NOT NULL,
    unit            TEXT NOT NULL,     -- UCUM code
    protocol        TEXT NOT NULL,
    deadline        TEXT NOT NULL,
    method          TEXT NOT NULL,     -- a `jiliang compare --method`, or `assigned`
    options         TEXT NOT NULL,     -- JSON: sigma_pt, en_rule, assigned, assigned_u
    blind           BOOLEAN NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'closed', 'published')),
    institution_id  BLOB NOT NULL REFERENCES institutions(id),
    created_by      BLOB NOT NULL REFERENCES users(id),
    created_at      TEXT NOT NULL,
    closed_at       TEXT,
    closed_by       BLOB REFERENCES users(id),
    published_at    TEXT,
    published_by    BLOB REFERENCES users(id),
    names_published BOOLEAN NOT NULL DEFAULT FALSE,
    record          TEXT
);
CREATE INDEX rounds_institution ON rounds (institution_id);

CREATE TABLE round_labs (
    round_id        BLOB NOT NULL REFERENCES rounds(id),
    lab_id          BLOB NOT NULL REFERENCES institutions(id),
    position        BIGINT NOT NULL,   -- invitation order, 1-based
    code            TEXT NOT NULL,     -- L01, L02, …
    invited_at      TEXT NOT NULL,
    invited_by      BLOB NOT NULL REFERENCES users(id),
    excluded_reason TEXT,              -- left out of the reference value
    excluded_by     BLOB REFERENCES users(id),
    PRIMARY KEY (round_id, lab_id),
    UNIQUE (round_id, position)
);
CREATE INDEX round_labs_lab ON round_labs (lab_id);

CREATE TABLE round_results (
    round_id             BLOB NOT NULL,
    lab_id               BLOB NOT NULL,
    value                REAL NOT NULL,
    expanded_uncertainty REAL NOT NULL,
    k                    REAL NOT NULL,
    method_notes         TEXT NOT NULL,
    submitted_by         BLOB NOT NULL REFERENCES users(id),
    submitted_at         TEXT NOT NULL,
    first_submitted_at   TEXT NOT NULL,
    PRIMARY KEY (round_id, lab_id),
    FOREIGN KEY (round_id, lab_id) REFERENCES round_labs(round_id, lab_id)
);

CREATE TABLE round_attachments (
    id           BLOB PRIMARY KEY NOT NULL,
    round_id     BLOB NOT NULL,
    lab_id       BLOB NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    data         BLOB NOT NULL,
    uploaded_by  BLOB NOT NULL REFERENCES users(id),
    uploaded_at  TEXT NOT NULL,
    FOREIGN KEY (round_id, lab_id) REFERENCES round_labs(round_id, lab_id)
);
CREATE INDEX round_attachments_lab ON round_attachments (round_id, lab_id);
