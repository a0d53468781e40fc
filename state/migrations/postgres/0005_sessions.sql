-- Console sessions (SPEC §12). Only SHA-256 digests of the cookie value and of the CSRF
-- token are stored. A session is live while now < idle_expires_at_ms and
-- now < absolute_expires_at_ms (database server's clock).
CREATE TABLE sessions (
    id_sha256              TEXT   PRIMARY KEY,
    token_name             TEXT   NOT NULL,
    role                   TEXT   NOT NULL,
    tenant                 TEXT,
    csrf_sha256            TEXT   NOT NULL,
    created_at_ms          BIGINT NOT NULL,
    last_seen_at_ms        BIGINT NOT NULL,
    idle_timeout_ms        BIGINT NOT NULL,
    idle_expires_at_ms     BIGINT NOT NULL,
    absolute_expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_by_token ON sessions (token_name);
CREATE INDEX sessions_by_idle_expiry ON sessions (idle_expires_at_ms);
