-- Back to one connection row per business (its newest) and customers found by account.
DROP INDEX customers_by_connection;
CREATE INDEX customers_by_account ON customers (stripe_account, customer_id);
ALTER TABLE customers DROP COLUMN connection_id;

DELETE FROM stripe_connections
    WHERE id <> (SELECT MAX(n.id) FROM stripe_connections n
                 WHERE n.user_id = stripe_connections.user_id);
CREATE TABLE stripe_connections_old (
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
INSERT INTO stripe_connections_old (id, user_id, stripe_user_id, livemode, scope,
    publishable_key, access_token_sealed, refresh_token_sealed, status, connected_at,
    revoked_at, revoked_by, updated_at)
    SELECT id, user_id, stripe_user_id, livemode, scope, publishable_key,
        access_token_sealed, refresh_token_sealed, status, connected_at, revoked_at,
        revoked_by, updated_at
    FROM stripe_connections;
DROP TABLE stripe_connections;
ALTER TABLE stripe_connections_old RENAME TO stripe_connections;
CREATE INDEX stripe_connections_by_account ON stripe_connections (stripe_user_id);
