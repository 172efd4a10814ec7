-- 0005: what the admin review UI needs beyond 0001.

-- Signing out ends every session of the account issued before this instant (sessions live in
-- signed cookies, so the server keeps only this one timestamp per administrator).
ALTER TABLE admins ADD COLUMN signed_out_at timestamptz;
ALTER TABLE admins ADD COLUMN last_login_at timestamptz;

-- Which academies an audited action concerns, so that an academy administrator sees the audit
-- entries of their academy only. Empty for actions that concern no academy in particular.
ALTER TABLE audit_log ADD COLUMN academies text[] NOT NULL DEFAULT '{}';
CREATE INDEX audit_log_academies ON audit_log USING gin (academies);
CREATE INDEX audit_log_target ON audit_log (target);

-- Decisions and candidates are looked up by either record of the pair.
CREATE INDEX match_candidates_record_b ON match_candidates (record_b);
CREATE INDEX match_decisions_record_b ON match_decisions (record_b) WHERE revoked_at IS NULL;
