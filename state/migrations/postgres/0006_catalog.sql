-- The model catalog (SPEC §8): one row per entry, keyed by its id `<provider>/<name>`.
-- `document` is the entry as JSON text (the catalog crate's schema); `provider`, `name`,
-- `kind` and `display_name` are copies for filtering. `version` starts at 1 and grows by
-- one per change (the entry's ETag); writes are compare-and-set on it.
-- Ids sort bytewise on both engines (SQLite BINARY, PostgreSQL "C"), so pages by id agree.
CREATE TABLE catalog_entries (
    id            TEXT    COLLATE "C" PRIMARY KEY,
    provider      TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    kind          TEXT,
    display_name  TEXT,
    document      TEXT    NOT NULL,
    version       BIGINT  NOT NULL CHECK (version > 0),
    created_at_ms BIGINT  NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);
CREATE INDEX catalog_entries_by_provider ON catalog_entries (provider, id);
