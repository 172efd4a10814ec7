-- 0004: what the search and resolution API needs beyond the initial schema.

-- The search index generation: bumped (with NOTIFY directory_search) whenever imports, matching or
-- decisions changed what search shows; every API worker polls it and rebuilds its in-process index.
CREATE TABLE search_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    generation  bigint NOT NULL DEFAULT 0,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO search_state DEFAULT VALUES;

-- Persons changed since the last full build (admin decisions, account reports): workers patch
-- their index from here at once instead of waiting for a full rebuild.
CREATE TABLE search_changes (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id  text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);

-- The cloud user id of each person: assigned once, nationally unique, never reused, so that the
-- federated cloud id (userid@host of the home instance) only changes with an admin move.
CREATE TABLE cloud_userids (
    person_id    text PRIMARY KEY REFERENCES persons (id),
    userid       text NOT NULL UNIQUE,
    assigned_at  timestamptz NOT NULL DEFAULT now()
);

-- An instance credential: an API key with the `instance` scope reports accounts for this instance.
ALTER TABLE api_keys ADD COLUMN instance text REFERENCES instances (name);
-- A key's own rate (requests per minute per worker); NULL: DIRECTORY_RATE_LIMIT_PER_MINUTE.
ALTER TABLE api_keys ADD COLUMN rate_limit_per_minute integer CHECK (rate_limit_per_minute > 0);

CREATE INDEX instance_accounts_email ON instance_accounts (lower(email));
CREATE INDEX api_key_exposure_day ON api_key_exposure (day, key_id);
