-- Stripe Connect: single-use OAuth `state` values (stored hashed), one connection per
-- business, and the webhook events received (deduplicated by Stripe's event id).
CREATE TABLE stripe_connect_states (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_binding_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX stripe_connect_states_by_expiry ON stripe_connect_states (expires_at);

CREATE TABLE stripe_connections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    stripe_user_id TEXT NOT NULL,
    livemode BOOLEAN NOT NULL,
    scope TEXT NOT NULL,
    publishable_key TEXT,
    access_token_sealed BLOB,
    refresh_token_sealed BLOB,
    status TEXT NOT NULL,
    connected_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX stripe_connections_by_account ON stripe_connections (stripe_user_id);

CREATE TABLE stripe_webhook_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    account TEXT,
    livemode BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    object_id TEXT,
    object_json TEXT NOT NULL,
    outcome TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX stripe_webhook_events_by_account ON stripe_webhook_events (account, created);
