-- 0008: the indexes of source_records serve the lookups that exist, and only those.
--
-- (feed, lower(uid)) served no query: an uid repeated inside a feed is caught while the feed is
-- mapped (importers/validate.py), and every lookup by uid (instance accounts, GS) spans the feeds,
-- which source_records_uid serves. Each insert paid for it (about 3 us of server time per record,
-- 4 s of a national first import).
DROP INDEX source_records_feed_uid;

-- An instance reporting its accounts (POST /gs/users, up to 10,000 a request) finds each person by
-- e-mail, in `mail` or in `mail_aliases`. `mail` has its btree; the aliases had nothing, so every
-- account cost a sequential scan of every record (about a second at 1.2 million). A GIN index
-- answers `mail_aliases @> ARRAY[...]`; partial, so that the records without an alias (most of
-- them) add nothing to it at import.
CREATE INDEX source_records_mail_aliases ON source_records USING gin (mail_aliases)
    WHERE mail_aliases <> '{}';
