-- Tenancy across a Stripe account that moves between businesses. Each connection a
-- business makes is a row of its own (connecting again adds one; a revoked row stays
-- as history), at most one live per business and one live per Stripe account; and a
-- recorded customer belongs to the connection it was recorded (or last attached)
-- under. Reads, portal sessions and webhooks reach a customer only through its
-- connection while that connection is live, so a business that disconnected sees
-- nothing more from the account, whoever connects it next.
--
-- SQLite cannot drop the UNIQUE (user_id) of a column definition: the table is built
-- again (no table refers to it yet).
CREATE TABLE stripe_connections_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
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
INSERT INTO stripe_connections_new (id, user_id, stripe_user_id, livemode, scope,
    publishable_key, access_token_sealed, refresh_token_sealed, status, connected_at,
    revoked_at, revoked_by, updated_at)
    SELECT id, user_id, stripe_user_id, livemode, scope, publishable_key,
        access_token_sealed, refresh_token_sealed, status, connected_at, revoked_at,
        revoked_by, updated_at
    FROM stripe_connections;
DROP TABLE stripe_connections;
ALTER TABLE stripe_connections_new RENAME TO stripe_connections;
CREATE INDEX stripe_connections_by_user ON stripe_connections (user_id, id);
CREATE UNIQUE INDEX stripe_connections_live_per_user ON stripe_connections (user_id)
    WHERE status = 'connected';
CREATE UNIQUE INDEX stripe_connections_live_per_account ON stripe_connections (stripe_user_id)
    WHERE status = 'connected';

-- NULL: detached, with no connection row to name (none is ever deleted while its
-- business exists; the business's deletion takes its customers too).
ALTER TABLE customers ADD COLUMN connection_id BIGINT
    REFERENCES stripe_connections (id) ON DELETE SET NULL;
UPDATE customers SET connection_id = (
    SELECT c.id FROM stripe_connections c
    WHERE c.user_id = customers.user_id AND c.stripe_user_id = customers.stripe_account
);
DROP INDEX customers_by_account;
CREATE INDEX customers_by_connection ON customers (connection_id, customer_id);
