-- The message store partitioned by month (PARTITION BY RANGE (ts)), searchable.
--
-- * message_ids: one row per stored message id (a plain table, so UNIQUE (msg_id) holds across partitions);
--   it hands out the message's stable key ``id`` (what a stream entry references) and is written in the
--   same statement as the message (a CTE), so the bus and a backfill writing at once store a message once.
-- * messages: partitions messages_pYYYY_MM, created ahead by Hubs (hubs_message_partition), and
--   messages_default for stragglers outside every month created (moved into their month when it is created).
-- * search: a generated tsvector (GIN) and a trigram index over package names and summaries (NVRs).
-- Every message of the old table is copied with its id, then the old table is dropped.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Words of a text[] (array_to_string is only STABLE; over text it is immutable).
CREATE OR REPLACE FUNCTION hubs_words(text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_to_string($1, ' '), '') $$;

ALTER TABLE messages RENAME TO messages_old;
ALTER INDEX messages_pkey RENAME TO messages_old_pkey;
ALTER INDEX messages_msg_id_key RENAME TO messages_old_msg_id_key;
DROP INDEX messages_ts_idx, messages_category_ts_idx, messages_usernames_idx, messages_packages_idx;

CREATE TABLE message_ids (
    id      bigserial PRIMARY KEY,
    msg_id  text NOT NULL UNIQUE,
    ts      timestamptz NOT NULL
);
CREATE INDEX message_ids_ts_idx ON message_ids (ts);

CREATE TABLE messages (
    id          bigint NOT NULL,
    msg_id      text NOT NULL,
    topic       text NOT NULL,
    category    text NOT NULL,
    ts          timestamptz NOT NULL,
    usernames   text[] NOT NULL DEFAULT '{}',
    packages    text[] NOT NULL DEFAULT '{}',
    body        jsonb NOT NULL,
    summary     text NOT NULL DEFAULT '',
    link        text NOT NULL DEFAULT '',
    icon        text NOT NULL DEFAULT '',
    agent       text NOT NULL DEFAULT '',
    source      text NOT NULL DEFAULT 'fedmsg',
    search      tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', summary), 'A')
        || setweight(to_tsvector('simple', hubs_words(packages) || ' ' || hubs_words(usernames) || ' ' || agent), 'B')
        || setweight(to_tsvector('simple', category || ' ' || replace(topic, '.', ' ')), 'C')
    ) STORED,
    PRIMARY KEY (id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE messages_default PARTITION OF messages DEFAULT;

-- Create the partition of the month starting at ``month`` (a no-op if it exists); rows of that month
-- waiting in the default partition move into it. Returns true if it was created.
-- (Hubs calls it in a transaction of its own: it holds a lock on the whole store until commit.)
CREATE OR REPLACE FUNCTION hubs_message_partition(month date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    start date := date_trunc('month', month)::date;
    stop  date := (date_trunc('month', month) + interval '1 month')::date;
    lo    timestamptz := start::timestamp AT TIME ZONE 'UTC';
    hi    timestamptz := stop::timestamp AT TIME ZONE 'UTC';
    name  text := 'messages_p' || to_char(start, 'YYYY_MM');
    cols  text := 'id, msg_id, topic, category, ts, usernames, packages, body, summary, link, icon, agent, source';
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Writers wait (briefly, once a month) so that no row of this month slips into the default partition
    -- between the check below and the creation; a second creator finds the month made once it has the lock.
    LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE;
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM messages_default WHERE ts >= lo AND ts < hi) THEN
        ALTER TABLE messages DETACH PARTITION messages_default;
        EXECUTE format('CREATE TABLE %I PARTITION OF messages FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
        EXECUTE format('INSERT INTO messages (%s) SELECT %s FROM messages_default WHERE ts >= %L AND ts < %L',
                       cols, cols, lo, hi);
        EXECUTE format('DELETE FROM messages_default WHERE ts >= %L AND ts < %L', lo, hi);
        ALTER TABLE messages ATTACH PARTITION messages_default DEFAULT;
    ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF messages FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    END IF;
    RETURN true;
END $$;

-- A month for every month of the last three years the old table holds, this month and the next
-- (older stragglers stay in the default partition until retention deletes them).
SELECT hubs_message_partition(m::date) FROM (
    SELECT generate_series(date_trunc('month', min(ts) AT TIME ZONE 'UTC'),
                           date_trunc('month', max(ts) AT TIME ZONE 'UTC'), interval '1 month') AS m
      FROM messages_old WHERE ts >= now() - interval '3 years'
    UNION SELECT date_trunc('month', now() AT TIME ZONE 'UTC')
    UNION SELECT date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') months;

INSERT INTO message_ids (id, msg_id, ts) SELECT id, msg_id, ts FROM messages_old;
SELECT setval('message_ids_id_seq', greatest((SELECT max(id) FROM messages_old), 1),
              (SELECT max(id) FROM messages_old) IS NOT NULL);
INSERT INTO messages (id, msg_id, topic, category, ts, usernames, packages, body, summary, link, icon, agent, source)
    SELECT id, msg_id, topic, category, ts, usernames, packages, body, summary, link, icon, agent, source
      FROM messages_old;
DROP TABLE messages_old;

CREATE INDEX messages_ts_idx ON messages (ts DESC, id DESC);
CREATE INDEX messages_category_ts_idx ON messages (category, ts DESC);
CREATE INDEX messages_usernames_idx ON messages USING gin (usernames);
CREATE INDEX messages_packages_idx ON messages USING gin (packages);
CREATE INDEX messages_search_idx ON messages USING gin (search);
CREATE INDEX messages_names_trgm_idx ON messages USING gin ((lower(hubs_words(packages) || ' ' || summary)) gin_trgm_ops);

-- Texts people search besides messages: hubs and widget texts (trigram for names typed in part).
CREATE INDEX hubs_name_trgm_idx ON hubs USING gin (name gin_trgm_ops);
CREATE INDEX users_username_trgm_idx ON users USING gin (username gin_trgm_ops);
