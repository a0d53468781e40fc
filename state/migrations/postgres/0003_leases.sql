-- Leases for work that must run on one replica at a time (`autopilot`, `retention`,
-- `jobs`). Times are the database server's clock. `token` grows by one whenever the holder
-- changes, so work can be fenced by (name, token).
CREATE TABLE leases (
    name           TEXT   PRIMARY KEY,
    holder         TEXT   NOT NULL,
    acquired_at_ms BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    token          BIGINT NOT NULL
);
