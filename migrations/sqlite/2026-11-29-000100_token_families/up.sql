-- One row per rotation family (a code exchange and all its refreshes) instead of one
-- row per access token and per refresh token. A refresh is then one in-place update
-- of an unindexed counter, and issuing an access token writes nothing: a JWT carries
-- its family (`sid`), and it is live while its family and grant are. Refresh tokens
-- name their family and generation and carry a keyed MAC over both and the family's
-- salt, so nothing stored here can be turned back into a token, and a rotated-out
-- token (any generation) is still recognised as one: its reuse revokes the family.
--
-- Refresh tokens issued before this migration cannot be converted (only their hashes
-- were stored): their holders sign in again. Access tokens that were revoked before
-- it stay revoked.
-- A plain rowid key (no AUTOINCREMENT, whose bookkeeping row in sqlite_sequence
-- would be rewritten on every insert): the id is never shown, only `family_id` is.
CREATE TABLE oauth_token_families (
    id INTEGER PRIMARY KEY,
    family_id TEXT NOT NULL UNIQUE,
    -- Denormalised from the grant for the checks on every request; the grant's own
    -- cascades (from the client and the user) remove the family.
    client_pk BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    grant_id BIGINT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    -- NULL when the client is not issued refresh tokens.
    refresh_salt TEXT,
    generation BIGINT NOT NULL,
    rotated_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX oauth_token_families_by_grant ON oauth_token_families (grant_id);
CREATE INDEX oauth_token_families_by_expiry ON oauth_token_families (absolute_expires_at);

-- Access tokens revoked one by one (RFC 7009), until they expire.
CREATE TABLE oauth_revoked_access_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_revoked_access_tokens_by_expiry ON oauth_revoked_access_tokens (expires_at);
INSERT INTO oauth_revoked_access_tokens (jti, expires_at)
    SELECT jti, expires_at FROM oauth_access_tokens WHERE revoked_at IS NOT NULL;

DROP TABLE oauth_access_tokens;
DROP TABLE oauth_refresh_tokens;
-- Families are locked through their own row now, not through the code's.
DROP INDEX oauth_codes_by_family;
