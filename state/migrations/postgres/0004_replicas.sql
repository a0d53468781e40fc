-- Replicas that heartbeat into the store, for GET /api/v1/cluster.
CREATE TABLE replicas (
    id             TEXT   PRIMARY KEY,
    address        TEXT   NOT NULL,
    config_version BIGINT NOT NULL,
    started_at_ms  BIGINT NOT NULL,
    last_seen_ms   BIGINT NOT NULL
);
