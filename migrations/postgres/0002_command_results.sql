-- Per-item results of multi-item commands (share with several users, …): the original tool
-- only logged them.
CREATE TABLE command_results (
    id        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    operation TEXT    NOT NULL,
    target    TEXT,
    results   TEXT    NOT NULL
);
