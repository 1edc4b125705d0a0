-- The bus messages the hub has seen (like datanommer), for activity widgets.
CREATE TABLE messages (
    id          bigserial PRIMARY KEY,
    msg_id      text NOT NULL UNIQUE,
    topic       text NOT NULL,
    category    text NOT NULL,
    ts          timestamptz NOT NULL,
    usernames   text[] NOT NULL DEFAULT '{}',
    packages    text[] NOT NULL DEFAULT '{}',
    body        jsonb NOT NULL
);
CREATE INDEX messages_ts_idx ON messages (ts DESC, id DESC);
CREATE INDEX messages_category_ts_idx ON messages (category, ts DESC);
CREATE INDEX messages_usernames_idx ON messages USING gin (usernames);
CREATE INDEX messages_packages_idx ON messages USING gin (packages);
