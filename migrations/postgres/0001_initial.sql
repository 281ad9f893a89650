-- schedulight's own state on PostgreSQL.
-- Conventions (shared with the SQLite schema so one set of queries serves both):
--   * times are BIGINT unix microseconds (UTC);
--   * JSON documents (server/meeting definitions, job payloads, token scopes) are TEXT;
--   * enum-like states are TEXT in snake_case, guarded by CHECK constraints;
--   * surrogate ids never get reused (identity columns), so a mail or job id shown to a user stays
--     unambiguous after deletions.
--   * keys that lists are ordered by use COLLATE "C" so the order is byte order, as on SQLite,
--     whatever locale the cluster was created with.

CREATE TABLE servers (
    id         TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    spec       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- No foreign key to servers: a meeting may name a server that is added later (the seed did not
-- check either); the scheduler reports a missing server when it runs the meeting.
CREATE TABLE meetings (
    id         TEXT   COLLATE "C" NOT NULL PRIMARY KEY,
    server_id  TEXT   NOT NULL,
    spec       TEXT   NOT NULL,
    phase      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX meetings_by_server ON meetings (server_id);

CREATE TABLE meeting_steps (
    seq        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meeting_id TEXT    COLLATE "C" NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    step       TEXT    COLLATE "C" NOT NULL,
    code       BIGINT  NOT NULL,
    message    TEXT    NOT NULL,
    at         BIGINT  NOT NULL
);
CREATE INDEX meeting_steps_by_step ON meeting_steps (meeting_id, step, seq);

CREATE TABLE jobs (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT    NOT NULL,
    meeting_id  TEXT    COLLATE "C" REFERENCES meetings (id) ON DELETE CASCADE,
    due_at      BIGINT  NOT NULL,
    payload     TEXT    NOT NULL,
    unique_key  TEXT    NOT NULL UNIQUE,
    state       TEXT    NOT NULL
        CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
    attempts    BIGINT  NOT NULL DEFAULT 0,
    last_error  TEXT,
    locked_by   TEXT,
    lease_until BIGINT,
    finished_at BIGINT
);
CREATE INDEX jobs_by_state_due ON jobs (state, due_at);
CREATE INDEX jobs_by_meeting ON jobs (meeting_id);

-- Mails outlive their meeting (a cancellation notice is queued while the meeting goes away), so
-- meeting_id and server_id are plain references without foreign keys.
CREATE TABLE mail_outbox (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unique_key   TEXT    NOT NULL UNIQUE,
    meeting_id   TEXT,
    server_id    TEXT,
    from_addr    TEXT    NOT NULL,
    to_addr      TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    not_before   BIGINT  NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts     BIGINT  NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   BIGINT  NOT NULL,
    sent_at      BIGINT
);
CREATE INDEX mail_outbox_by_state ON mail_outbox (state, not_before);

CREATE TABLE audit_log (
    id        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    operation TEXT    NOT NULL,
    target    TEXT,
    result    TEXT    NOT NULL,
    detail    TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at, id);

CREATE TABLE api_tokens (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT,
    revoked      BOOLEAN NOT NULL DEFAULT FALSE
);
-- A name is unique among live tokens; a revoked token's name may be reused.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE NOT revoked;
