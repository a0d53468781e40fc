-- Fine-tuning jobs (SPEC §10): one row per job, its events in order.
-- `document` is the job as JSON text (the control API's schema); `state`, `tenant` and
-- `provider_job_id` are copies for listing and for the worker. `version` starts at 1 and
-- grows by one per change; every write is compare-and-set on it.
CREATE TABLE jobs (
    id              TEXT COLLATE "C" PRIMARY KEY,
    state           TEXT    NOT NULL,
    tenant          TEXT,
    provider_job_id TEXT,
    document        TEXT    NOT NULL,
    version         BIGINT  NOT NULL CHECK (version > 0),
    created_at_ms   BIGINT  NOT NULL,
    updated_at_ms   BIGINT  NOT NULL
);
CREATE INDEX jobs_by_state ON jobs (state, id);
-- Events: `seq` orders them across the whole store; a trainer's own event is kept once
-- (`source_id` is its id at the trainer; NULL for Switchyard's own events).
CREATE TABLE job_events (
    seq        BIGSERIAL PRIMARY KEY,
    job_id     TEXT    NOT NULL,
    at_ms      BIGINT  NOT NULL,
    source_id  TEXT,
    event      TEXT    NOT NULL
);
CREATE INDEX job_events_by_job ON job_events (job_id, seq);
CREATE UNIQUE INDEX job_events_once ON job_events (job_id, source_id);
