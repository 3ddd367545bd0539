-- OAuth 2 authorization server. Credentials (client secrets, codes, refresh tokens)
-- are stored only as keyed hashes; signing keys' private parts only sealed.
CREATE TABLE oauth_clients (
    id BIGSERIAL PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    owner_user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    client_type TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    cors_origins TEXT NOT NULL,
    issue_refresh_tokens BOOLEAN NOT NULL,
    always_ask_consent BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX oauth_clients_by_owner ON oauth_clients (owner_user_id);

-- A user's consent to a client for a set of scopes ("authorized applications").
CREATE TABLE oauth_grants (
    id BIGSERIAL PRIMARY KEY,
    client_pk BIGINT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX oauth_grants_by_user ON oauth_grants (user_id, client_pk);

CREATE TABLE oauth_authorization_codes (
    id BIGSERIAL PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    client_pk BIGINT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
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
CREATE INDEX oauth_codes_by_expiry ON oauth_authorization_codes (expires_at);

-- Access tokens are JWTs; this row is what lets one be revoked before it expires.
CREATE TABLE oauth_access_tokens (
    id BIGSERIAL PRIMARY KEY,
    jti TEXT NOT NULL UNIQUE,
    client_pk BIGINT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    grant_id BIGINT REFERENCES oauth_grants (id) ON DELETE CASCADE,
    family_id TEXT,
    scope TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX oauth_access_tokens_by_family ON oauth_access_tokens (family_id);
CREATE INDEX oauth_access_tokens_by_grant ON oauth_access_tokens (grant_id);
CREATE INDEX oauth_access_tokens_by_expiry ON oauth_access_tokens (expires_at);

CREATE TABLE oauth_refresh_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    family_id TEXT NOT NULL,
    client_pk BIGINT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    grant_id BIGINT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    superseded_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX oauth_refresh_tokens_by_family ON oauth_refresh_tokens (family_id);
CREATE INDEX oauth_refresh_tokens_by_grant ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_tokens_by_expiry ON oauth_refresh_tokens (absolute_expires_at);

-- Access-token signing keys. The newest unretired key signs; retired keys stay
-- published in the JWKS until the tokens they signed have expired.
CREATE TABLE oauth_signing_keys (
    id BIGSERIAL PRIMARY KEY,
    kid TEXT NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    private_key_sealed BYTEA NOT NULL,
    public_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
