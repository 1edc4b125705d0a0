-- How many messages a substring matches, month by month, for the planner (issue 17).
--
-- A one-token search (a package name, an NVR) is also a LIKE over the expression of the trigram index
-- (migration 0007). PostgreSQL keeps no statistics of an expression under a GIN index, so it guessed 1 % of
-- a month for any substring, and once looked for a rare name ("python-hiel", a handful of messages) by walking
-- the newest month in time order, testing every message (3.3 s at 1.5 M messages). Extended statistics on the
-- expression (PostgreSQL 14+) give it the real frequency: the index for a rare name, the time order for one in
-- every other message. Every month has them: ``hubs_message_partition`` makes them with the month, and the
-- months there are get them here and are analysed (an old month never changes enough for autovacuum to
-- analyse it again).
DO $$
DECLARE
    part text;
BEGIN
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'messages'::regclass LOOP
        EXECUTE format('CREATE STATISTICS %I ON (lower(hubs_words(packages) || '' '' || summary)) FROM %I',
                       part || '_names_stats', part);
        EXECUTE format('ANALYZE %I', part);
    END LOOP;
END $$;

-- The month's partition, as in 0007, now with the statistics of its substrings.
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
    EXECUTE format('CREATE STATISTICS %I ON (lower(hubs_words(packages) || '' '' || summary)) FROM %I',
                   name || '_names_stats', name);
    RETURN true;
END $$;
