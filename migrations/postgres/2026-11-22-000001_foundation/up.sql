CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    business_name TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

-- Failed authentication attempts, counted per scope and subject (an account's email,
-- an IP address, a client id) over a sliding window. Kept in the database so that
-- several instances agree on who is throttled.
CREATE TABLE auth_failures (
    id BIGSERIAL PRIMARY KEY,
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    occurred_at BIGINT NOT NULL
);
CREATE INDEX auth_failures_by_subject ON auth_failures (scope, subject, occurred_at);

CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor_label TEXT,
    ip TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (occurred_at);

-- The platform's Stripe configuration: a single row. Secrets are sealed with the
-- server's key; only a masked hint is kept in clear for display.
CREATE TABLE stripe_platform_settings (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    secret_key_sealed BYTEA NOT NULL,
    secret_key_hint TEXT NOT NULL,
    publishable_key TEXT NOT NULL,
    connect_client_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by BIGINT REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE stripe_webhook_secrets (
    id BIGSERIAL PRIMARY KEY,
    secret_sealed BYTEA NOT NULL,
    secret_hint TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
