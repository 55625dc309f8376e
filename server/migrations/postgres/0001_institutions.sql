-- Institutions of the metrology system, national down to county.
-- `path` is the materialised path of ids from the root ('/a/b/c/'), so a
-- subtree is one indexed prefix scan; it is rewritten for the subtree on move.
CREATE TABLE institutions (
    id          UUID PRIMARY KEY,
    parent_id   UUID REFERENCES institutions(id),
    path        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('national', 'regional', 'provincial', 'city', 'county')),
    name_zh     TEXT NOT NULL,
    name_en     TEXT,
    region_code TEXT NOT NULL,
    contact     TEXT NOT NULL DEFAULT '',
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX institutions_sibling_name
    ON institutions (COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), name_zh);
CREATE INDEX institutions_path ON institutions (path text_pattern_ops);
CREATE INDEX institutions_parent ON institutions (parent_id);
