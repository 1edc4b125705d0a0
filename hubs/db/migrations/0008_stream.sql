-- PLACEHOLDER on branch `backfill` only: 0008 belongs to branch `stream-core` (its 0008_stream.sql), which
-- keeps migration numbers contiguous for 0009_backfill.sql here. At merge, take stream-core's file.
SELECT 1;
