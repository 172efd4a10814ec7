-- 0001: the whole schema, designed at once so that every later capability has its room.
-- Plain PostgreSQL 15+: no extension. Names are normalised in Python (matching.normalize), not here.
-- Confidential values (NUMEN, birth date) only ever appear as keyed hashes plus the birth year.

-- Reference data --------------------------------------------------------------------------------

CREATE TABLE academies (
    code            text PRIMARY KEY CHECK (code ~ '^[0-9]{2}$'),
    slug            text NOT NULL UNIQUE,
    name            text NOT NULL,
    mail_domain     text NOT NULL,
    legacy_domains  text[] NOT NULL DEFAULT '{}',
    departements    text[] NOT NULL
);

-- The national establishment registry (stand-in for the "Annuaire de l'education").
CREATE TABLE establishments (
    uai           text PRIMARY KEY CHECK (uai ~ '^[0-9]{3}[0-9]{4}[A-Z]$'),
    name          text NOT NULL,
    type          text,
    town          text,
    academy_code  text REFERENCES academies (code),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Feeds and their runs ----------------------------------------------------------------------------

CREATE TABLE feeds (
    name          text PRIMARY KEY,
    academy_code  text NOT NULL REFERENCES academies (code),
    kind          text NOT NULL CHECK (kind IN ('ldap', 'ldif')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE import_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed         text NOT NULL REFERENCES feeds (name),
    mode         text NOT NULL CHECK (mode IN ('full', 'incremental')),
    dry_run      boolean NOT NULL DEFAULT false,
    started_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz,
    status       text NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'ok', 'failed', 'refused')),
    read         integer NOT NULL DEFAULT 0,
    added        integer NOT NULL DEFAULT 0,
    updated      integer NOT NULL DEFAULT 0,
    removed      integer NOT NULL DEFAULT 0,
    unchanged    integer NOT NULL DEFAULT 0,
    quarantined  integer NOT NULL DEFAULT 0,
    error        text,
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX import_runs_feed_started ON import_runs (feed, started_at DESC);

-- One row per directory entry per feed, for ever: a removal is soft (removed_at), never a DELETE.
CREATE TABLE source_records (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed                text NOT NULL REFERENCES feeds (name),
    source_id           text NOT NULL,          -- entryUUID / nsUniqueId, else the normalised DN
    dn                  text NOT NULL,
    uid                 text,
    kind                text NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'functional')),
    given_name          text,
    usage_name          text,
    birth_name          text,
    display_name        text,
    civility            text,
    role                text,
    admin_function      text,
    discipline          text,
    main_uai            text,
    establishments      jsonb NOT NULL DEFAULT '[]',   -- [{uai, valid, function, type, nature}]
    responsible_uais    text[] NOT NULL DEFAULT '{}',
    academy_code        text REFERENCES academies (code),
    mail                text,
    mail_aliases        text[] NOT NULL DEFAULT '{}',
    numen_hash          text,                   -- HMAC, see directory/secrets.py
    birth_hash          text,
    birth_swapped_hash  text,
    birth_year          smallint,
    active              boolean NOT NULL DEFAULT true,   -- false: finfonction FF (left this post)
    left_on             date,
    flags               text[] NOT NULL DEFAULT '{}',
    raw                 jsonb NOT NULL,         -- the entry as read, confidential values redacted
    content_hash        text NOT NULL,
    modify_timestamp    timestamptz,
    first_seen          timestamptz NOT NULL DEFAULT now(),
    last_seen           timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    removed_at          timestamptz,
    last_run_id         bigint REFERENCES import_runs (id),
    match_pending       boolean NOT NULL DEFAULT true,   -- set by imports, cleared by matching
    UNIQUE (feed, source_id)
);
CREATE INDEX source_records_feed_uid ON source_records (feed, lower(uid));
CREATE INDEX source_records_uid ON source_records (lower(uid));
CREATE INDEX source_records_mail ON source_records (mail);
CREATE INDEX source_records_match_pending ON source_records (id) WHERE match_pending;

CREATE TABLE quarantine (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed        text NOT NULL REFERENCES feeds (name),
    run_id      bigint REFERENCES import_runs (id),
    dn          text,
    reason      text NOT NULL,                  -- stable code: missing_surname, invalid_utf8, ...
    detail      text,
    raw         jsonb NOT NULL,                 -- confidential values redacted
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_feed_run ON quarantine (feed, run_id);

-- Cloud instances and resolved identities ---------------------------------------------------------

CREATE TABLE instances (
    name        text PRIMARY KEY,
    host        text NOT NULL UNIQUE,
    capacity    integer NOT NULL CHECK (capacity > 0),
    academies   text[] NOT NULL DEFAULT '{}',   -- academy codes served; empty: any
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE persons (
    id             text PRIMARY KEY,            -- stable across runs, never reused
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'left', 'merged')),
    merged_into    text REFERENCES persons (id),
    display_name   text NOT NULL DEFAULT '',
    given_name     text,
    family_name    text,
    academy_code   text REFERENCES academies (code),
    home_instance  text REFERENCES instances (name),
    has_account    boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX persons_home_instance ON persons (home_instance) WHERE status = 'active';

CREATE TABLE record_links (
    record_id   bigint PRIMARY KEY REFERENCES source_records (id),
    person_id   text NOT NULL REFERENCES persons (id),
    method      text NOT NULL CHECK (method IN ('singleton', 'model', 'numen', 'human')),
    score       double precision,
    decided_by  text NOT NULL DEFAULT 'engine',
    linked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX record_links_person ON record_links (person_id);

-- Accounts that instances report (GS lookup-server style provisioning).
CREATE TABLE instance_accounts (
    instance      text NOT NULL REFERENCES instances (name),
    userid        text NOT NULL,
    person_id     text REFERENCES persons (id),
    email         text,
    display_name  text,
    reported_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, userid)
);
CREATE INDEX instance_accounts_person ON instance_accounts (person_id);

-- Matching: runs, candidate pairs for review, human decisions -------------------------------------

CREATE TABLE match_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mode        text NOT NULL CHECK (mode IN ('full', 'incremental')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed')),
    stats       jsonb NOT NULL DEFAULT '{}',
    model       jsonb,
    error       text
);

CREATE TABLE match_candidates (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_a     bigint NOT NULL REFERENCES source_records (id),
    record_b     bigint NOT NULL REFERENCES source_records (id),
    probability  double precision NOT NULL,
    weight       double precision NOT NULL,
    explanation  jsonb NOT NULL,                -- [{comparison, level, label, weight}]
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'merged', 'distinct', 'obsolete')),
    run_id       bigint REFERENCES match_runs (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (record_a < record_b),
    UNIQUE (record_a, record_b)
);
CREATE INDEX match_candidates_pending ON match_candidates (probability) WHERE status = 'pending';

-- Hard constraints from people; every matching run honours the ones not revoked.
CREATE TABLE match_decisions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('must_link', 'cannot_link')),
    record_a      bigint NOT NULL REFERENCES source_records (id),
    record_b      bigint NOT NULL REFERENCES source_records (id),
    decided_by    text NOT NULL,
    candidate_id  bigint REFERENCES match_candidates (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    revoked_by    text,
    CHECK (record_a < record_b)
);
CREATE INDEX match_decisions_live ON match_decisions (record_a, record_b) WHERE revoked_at IS NULL;

-- Access: API keys and administrators ------------------------------------------------------------

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    prefix        text NOT NULL UNIQUE,         -- shown to people to tell keys apart
    key_hash      text NOT NULL,                -- the key itself is never stored
    scopes        text[] NOT NULL,
    academy_code  text REFERENCES academies (code),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

-- Distinct people returned per key and day: scraping shows up here.
CREATE TABLE api_key_exposure (
    key_id     bigint NOT NULL REFERENCES api_keys (id),
    day        date NOT NULL,
    person_id  text NOT NULL,
    PRIMARY KEY (key_id, day, person_id)
);

CREATE TABLE admins (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    password_hash  text NOT NULL,               -- argon2id
    academy_code   text REFERENCES academies (code),   -- NULL: national administrator
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz
);

CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text,
    before  jsonb,
    after   jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
