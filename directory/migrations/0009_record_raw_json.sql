-- 0009: source_records.raw, the entry as read (confidential values redacted), becomes `json`.
--
-- It is kept for people (the admin pages, an audit), never searched or compared by the service:
-- `jsonb`'s binary form only cost the import its building, about 4 us of server time per record
-- written (5 s over a national first import). `json` is the text as the importer wrote it, checked
-- to be valid JSON. Rewrites the table once.
ALTER TABLE source_records ALTER COLUMN raw TYPE json USING raw::json;
