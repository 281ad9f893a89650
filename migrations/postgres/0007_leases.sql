-- Several daemons on one PostgreSQL store: a named lease has one holder at a time (the Matrix
-- sync runs in the daemon that holds `matrix-sync`; another takes it over when it runs out),
-- and a chat event is handled by the daemon that claims it first, so none is answered twice.
CREATE TABLE leases (
    name   TEXT   NOT NULL PRIMARY KEY,
    holder TEXT   NOT NULL,
    until  BIGINT NOT NULL
);

CREATE TABLE handled_events (
    event_id TEXT   NOT NULL PRIMARY KEY,
    at       BIGINT NOT NULL
);
CREATE INDEX handled_events_by_time ON handled_events (at);
