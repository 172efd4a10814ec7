-- 0007: facts about the store itself, one row per key.
--
-- First of them, ``hash_key_fingerprint``: a keyed hash of a constant made with the key that made
-- the store's NUMEN and birth-date hashes. An import with another key (a lost data directory that
-- held the generated key, a mistyped DIRECTORY_SECRET_KEY) would otherwise see every record as
-- changed, rewrite every hash and leave matching with nothing comparable; the importers compare the
-- fingerprints first and refuse (see importers/hashkey.py). It reveals nothing of the key.
CREATE TABLE store_meta (
    key         text PRIMARY KEY,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
