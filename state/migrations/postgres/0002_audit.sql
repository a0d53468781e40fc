-- The audit trail: who changed what, when, before and after. `seq` orders entries that
-- share a millisecond and is the second half of the pagination cursor.
CREATE TABLE audit (
    seq            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id       TEXT    NOT NULL UNIQUE,
    timestamp_ms   BIGINT  NOT NULL,
    actor          TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    target         TEXT    NOT NULL,
    tenant         TEXT,
    config_version BIGINT  NOT NULL,
    before_json    TEXT    NOT NULL,
    after_json     TEXT    NOT NULL,
    reason         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_time   ON audit (timestamp_ms, seq);
CREATE INDEX audit_by_actor  ON audit (actor, timestamp_ms, seq);
CREATE INDEX audit_by_target ON audit (target, timestamp_ms, seq);
CREATE INDEX audit_by_tenant ON audit (tenant, timestamp_ms, seq);
