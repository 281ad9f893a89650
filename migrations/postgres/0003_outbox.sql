-- The outbox holds typed requests (kind, meeting, occurrence, recipient) instead of rendered
-- mails: the sender renders each at send time from the meeting's current state, and nothing in
-- a request is a credential. Chat notices for the bot go through the same table. The old
-- table held rendered mails; nothing wrote to it before this version.
DROP TABLE mail_outbox;

CREATE TABLE outbox (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unique_key  TEXT    NOT NULL UNIQUE,
    channel     TEXT    NOT NULL CHECK (channel IN ('mail', 'chat')),
    kind        TEXT    NOT NULL,
    meeting_id  TEXT,
    occurrence  TEXT,
    recipient   TEXT    NOT NULL,
    data        TEXT    NOT NULL,
    not_before  BIGINT  NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts    BIGINT  NOT NULL DEFAULT 0,
    last_error  TEXT,
    reply       TEXT,
    created_at  BIGINT  NOT NULL,
    sent_at     BIGINT
);
CREATE INDEX outbox_due ON outbox (channel, state, not_before);
CREATE INDEX outbox_by_meeting ON outbox (meeting_id, id);
