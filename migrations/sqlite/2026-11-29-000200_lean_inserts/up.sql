-- The two tables written on every authorization and token request lose what each
-- insert paid for without use: AUTOINCREMENT (a rewrite of the table's row in
-- sqlite_sequence per insert; plain rowids only differ by possibly reusing the id of
-- a deleted newest row, and neither id is ever shown outside the database); for the
-- audit log, an index on the time, which no query reads (the log is read by id, which
-- follows the time); for codes, the foreign keys to the client and the user, each a
-- lookup per insert: the grant's key stays, and the grant goes with its client or
-- user, taking its codes along (as token families do).
DROP INDEX audit_events_by_time;
CREATE TABLE audit_events_new (
    id INTEGER PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor_label TEXT,
    ip TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
INSERT INTO audit_events_new SELECT id, occurred_at, actor_user_id, actor_label, ip, action, detail
    FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;

CREATE TABLE oauth_authorization_codes_new (
    id INTEGER PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    client_pk BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    grant_id BIGINT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    redirect_uri_sent BOOLEAN NOT NULL,
    code_challenge TEXT NOT NULL,
    scope TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    family_id TEXT
);
INSERT INTO oauth_authorization_codes_new SELECT id, code_hash, client_pk, user_id, grant_id,
    redirect_uri, redirect_uri_sent, code_challenge, scope, issued_at, expires_at, used_at,
    family_id
    FROM oauth_authorization_codes;
DROP TABLE oauth_authorization_codes;
ALTER TABLE oauth_authorization_codes_new RENAME TO oauth_authorization_codes;
CREATE INDEX oauth_codes_by_expiry ON oauth_authorization_codes (expires_at);
