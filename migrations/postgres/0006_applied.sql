-- What `schedulight apply` last applied from each declarative file: the servers and meetings a
-- file manages (so re-applying changes nothing and objects made in chat or over the API are
-- told apart), and the command entries already run with their result (a command runs once per
-- key and content). `digest` is a sha256 of what was applied; secrets are never stored here.
CREATE TABLE applied_entries (
    kind       TEXT   NOT NULL CHECK (kind IN ('server', 'meeting', 'command')),
    key        TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    digest     TEXT   NOT NULL,
    result     TEXT,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (kind, key)
);
