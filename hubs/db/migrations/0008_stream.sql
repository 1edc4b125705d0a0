-- A person's stream (issue 16): entries (person, message, reasons, triage state), follows, mutes,
-- saved filters with their Atom feed tokens, and each person's time zone (snooze "tomorrow" = 09:00 there).
--
-- * stream_items: one row per (person, message); ``message`` is the message's stable key
--   (message_ids.id) and is also the item's id in the API and in Last-Event-ID. No foreign key:
--   retention drops whole months of messages; a saved item keeps a copy of its card (``card``).
--   ``needs_me`` and ``mine`` are decided from the reasons when written. Every view and both counts
--   read a partial index of the person's rows, newest first. The message's category, topic and
--   packages are copied onto the row (filters on them scan the person's rows, not a month of messages).
-- * A message's entries for all concerned people are written in one statement with the message
--   (ON CONFLICT DO NOTHING: every process of a fleet may write them).

ALTER TABLE users ADD COLUMN tz text NOT NULL DEFAULT 'UTC';

CREATE TABLE stream_items (
    person          text NOT NULL,
    message         bigint NOT NULL,
    ts              timestamptz NOT NULL,
    kinds           text[] NOT NULL,
    reasons         text[] NOT NULL,
    needs_me        boolean NOT NULL,
    mine            boolean NOT NULL,
    unread          boolean NOT NULL DEFAULT true,
    done            boolean NOT NULL DEFAULT false,
    saved           boolean NOT NULL DEFAULT false,
    snoozed_until   timestamptz,
    card            jsonb,
    category        text NOT NULL DEFAULT '',   -- the message's, copied when written: the filters on them
    topic           text NOT NULL DEFAULT '',   -- read the person's rows only, never the message store
    packages        text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (person, message)
);
-- "everything" (and the filtered views over it): not done, not snoozed.
CREATE INDEX stream_items_open_idx ON stream_items (person, message DESC) WHERE NOT done AND snoozed_until IS NULL;
-- Both counts in one index-only scan (a new item goes into three indexes: this, the one above, the key).
CREATE INDEX stream_items_unread_idx ON stream_items (person, needs_me)
    WHERE unread AND NOT done AND snoozed_until IS NULL;
CREATE INDEX stream_items_done_idx ON stream_items (person, message DESC) WHERE done;
CREATE INDEX stream_items_saved_idx ON stream_items (person, message DESC) WHERE saved;
-- Retention drops a month's unsaved items with its messages (rows arrive in time order: a BRIN index
-- costs next to nothing a row).
CREATE INDEX stream_items_ts_idx ON stream_items USING brin (ts);
-- Snoozes that end: every process asks for those due.
CREATE INDEX stream_items_snoozed_idx ON stream_items (snoozed_until) WHERE snoozed_until IS NOT NULL;

CREATE TABLE follows (
    person  text NOT NULL,
    kind    text NOT NULL CHECK (kind IN ('person', 'package', 'hub')),
    name    text NOT NULL,
    PRIMARY KEY (person, kind, name)
);

CREATE TABLE mutes (
    id      bigserial PRIMARY KEY,
    person  text NOT NULL,
    kind    text NOT NULL CHECK (kind IN ('package', 'service', 'person', 'topic')),
    value   text NOT NULL,
    UNIQUE (person, kind, value)
);

CREATE TABLE stream_filters (
    id          bigserial PRIMARY KEY,
    person      text NOT NULL,
    name        text NOT NULL,
    query       jsonb NOT NULL,
    feed_token  bytea UNIQUE,  -- SHA-256 of the Atom feed's private token (NULL: no feed)
    UNIQUE (person, name)
);
CREATE INDEX stream_filters_person_idx ON stream_filters (person, id);
