-- The chat bot's memory across restarts: the time zone each user chose, and commands waiting
-- for their requester's confirmation (with the bot's prompt, so a ✅ on it confirms).
CREATE TABLE chat_users (
    user_id    TEXT   PRIMARY KEY,
    time_zone  TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE chat_pending (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      TEXT   NOT NULL,
    operation    TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL,
    prompt_event TEXT
);

CREATE INDEX chat_pending_prompt ON chat_pending (prompt_event);
CREATE INDEX chat_pending_expires ON chat_pending (expires_at);
