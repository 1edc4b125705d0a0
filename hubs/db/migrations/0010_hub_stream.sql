-- A message's hub entries once per (hub, message), not once per person (issue 16; issue 19's storm).
--
-- * hub_items: what a hub's feed shows, one row per (hub, message). A person's stream is read as their own
--   rows (stream_items: the personal reasons, and their triage of hub items) ∪ the rows of the hubs they
--   own, belong to, subscribe to ("hub") or follow ("follow-hub"), that person → hubs map coming from the
--   process's index. The message's filter columns are copied as on stream_items. ``fresh``: false for
--   history a backfill wrote (read from the start). Retention drops them with the month (BRIN on ts).
-- * stream_marks: a person's "read up to" mark (mark all read): a hub item at or below it is read unless
--   the person's own row says otherwise. Triage of a hub item writes the person's own stream_items row.

CREATE TABLE hub_items (
    hub         text NOT NULL,
    message     bigint NOT NULL,
    ts          timestamptz NOT NULL,
    category    text NOT NULL DEFAULT '',
    topic       text NOT NULL DEFAULT '',
    packages    text[] NOT NULL DEFAULT '{}',
    usernames   text[] NOT NULL DEFAULT '{}',
    agent       text NOT NULL DEFAULT '',
    fresh       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (hub, message)
);
CREATE INDEX hub_items_ts_idx ON hub_items USING brin (ts);

CREATE TABLE stream_marks (
    person      text PRIMARY KEY,
    read_upto   bigint NOT NULL
);
