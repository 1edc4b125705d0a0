-- Substring search of package names and NVRs whose trigrams span the signs inside a name (issue 17).
--
-- pg_trgm splits a text into words at every character that is not a letter or a digit, so the trigrams of
-- "gimp-1.0-1.fc43" are those of "gimp", "1", "0", "1", "fc43": a search for an NVR ("rust-tone-2.19")
-- asks for "  1", " 2 ", "  2", … which nearly every build message holds, and a search that matches nothing
-- still reads those long posting lists in every month (the slowest search at 1.5 M messages). Here the
-- signs that join a name's parts become capital letters first (lower() has left none in the text, so the
-- mapping is one to one and ``hubs_names(…) LIKE hubs_names_pattern`` is exactly ``lower(…) LIKE``): the
-- name is one word, its trigrams ("q2d", "eq2", …) are as rare as the name is, and there are fewer of them
-- a message (a smaller index, cheaper to write). Python's side: ``hubs.search.query.name_key``.
CREATE OR REPLACE FUNCTION hubs_names(packages text[], summary text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT replace(replace(replace(replace(replace(replace(replace(replace(replace(
        lower(hubs_words(packages) || ' ' || summary),
        '-', 'Q'), '.', 'D'), '_', 'U'), '+', 'P'), '~', 'T'), ':', 'C'), '/', 'S'), '@', 'A'), '#', 'H')
$$;

-- Built beside the old index, which is dropped last: DROP INDEX locks out readers too, until the commit.
CREATE INDEX messages_names_key_trgm_idx ON messages USING gin (hubs_names(packages, summary) gin_trgm_ops);

-- How many messages a name matches, month by month, for the planner: without it a LIKE over the expression
-- is guessed at 1 % of the month, and a rare name ("python-hiel") was looked for by walking the whole month
-- newest first (3 s at 1.5 M messages) instead of through the index. Every month has its statistics
-- (``hubs_message_partition`` makes them with the month; the months there are get them and are analysed here:
-- an old month never changes enough for autovacuum to analyse it again).
DO $$
DECLARE
    part text;
BEGIN
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'messages'::regclass LOOP
        EXECUTE format('CREATE STATISTICS %I ON (hubs_names(packages, summary)) FROM %I', part || '_names_stats', part);
        EXECUTE format('ANALYZE %I', part);
    END LOOP;
END $$;

-- The month's partition, as in 0007, now with the statistics of its names.
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
    EXECUTE format('CREATE STATISTICS %I ON (hubs_names(packages, summary)) FROM %I', name || '_names_stats', name);
    RETURN true;
END $$;

DROP INDEX messages_names_trgm_idx;
ALTER INDEX messages_names_key_trgm_idx RENAME TO messages_names_trgm_idx;
