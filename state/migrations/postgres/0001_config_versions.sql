-- Numbered versions of the routing config YAML (SPEC §7). `version` is assigned by the
-- compare-and-set in config_versions.rs: previous maximum + 1; the primary key makes two
-- racing appends of the same number impossible.
CREATE TABLE config_versions (
    version       BIGINT  PRIMARY KEY CHECK (version > 0),
    created_at_ms BIGINT  NOT NULL,
    actor         TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    yaml          TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,
    source        TEXT    NOT NULL DEFAULT 'store'
);
