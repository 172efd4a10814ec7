-- 0006: the records waiting for matching move from a flag in source_records to a narrow queue.
--
-- Clearing source_records.match_pending after a run rewrote every matched row of that wide table
-- (raw jsonb and all; the flag's partial index made no update HOT): 515 s of a 1,398 s first run
-- at 1.2 million records. The queue holds only ids: the import's apply step inserts them in the
-- same statement as the record it adds, changes or removes (same transaction), and the matching
-- run deletes the ones it matched in its own transaction.
--
-- No foreign key to source_records: the ids are inserted by the statement that writes the record
-- (RETURNING id), source_records rows are never deleted, and a run ignores an id it cannot find;
-- a per-row key check would only add work to every import.
--
-- ``seq`` is the queueing's version: a record changed again while a run is matching it gets a new
-- seq (ON CONFLICT DO UPDATE), and the run deletes only the (record_id, seq) it read, so that the
-- later change stays queued for the next run instead of being dropped with the older one.
CREATE SEQUENCE match_queue_seq;
CREATE TABLE match_queue (
    record_id  bigint PRIMARY KEY,
    seq        bigint NOT NULL DEFAULT nextval('match_queue_seq')
);

INSERT INTO match_queue (record_id) SELECT id FROM source_records WHERE match_pending;

DROP INDEX source_records_match_pending;
ALTER TABLE source_records DROP COLUMN match_pending;
