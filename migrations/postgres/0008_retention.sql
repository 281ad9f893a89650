-- Retention rules: when the owner of a recording was told it will be deleted. Its deletion
-- waits a full warning period from this time, so nothing goes unannounced.
CREATE TABLE retention_warnings (
    server_id TEXT   NOT NULL,
    record_id TEXT   NOT NULL,
    warned_at BIGINT NOT NULL,
    PRIMARY KEY (server_id, record_id)
);

-- The purge of old sent messages looks them up by state and time.
CREATE INDEX outbox_by_sent ON outbox (state, sent_at);
-- and the step-history purge by time.
CREATE INDEX meeting_steps_by_time ON meeting_steps (at);
