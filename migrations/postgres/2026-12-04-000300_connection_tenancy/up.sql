-- Tenancy across a Stripe account that moves between businesses. Each connection a
-- business makes is a row of its own (connecting again adds one; a revoked row stays
-- as history), at most one live per business and one live per Stripe account; and a
-- recorded customer belongs to the connection it was recorded (or last attached)
-- under. Reads, portal sessions and webhooks reach a customer only through its
-- connection while that connection is live, so a business that disconnected sees
-- nothing more from the account, whoever connects it next.
ALTER TABLE stripe_connections DROP CONSTRAINT stripe_connections_user_id_key;
DROP INDEX stripe_connections_by_account;
CREATE INDEX stripe_connections_by_user ON stripe_connections (user_id, id);
CREATE UNIQUE INDEX stripe_connections_live_per_user ON stripe_connections (user_id)
    WHERE status = 'connected';
CREATE UNIQUE INDEX stripe_connections_live_per_account ON stripe_connections (stripe_user_id)
    WHERE status = 'connected';

-- NULL: detached, with no connection row to name (none is ever deleted while its
-- business exists; the business's deletion takes its customers too).
ALTER TABLE customers ADD COLUMN connection_id BIGINT
    REFERENCES stripe_connections (id) ON DELETE SET NULL;
UPDATE customers SET connection_id = c.id
    FROM stripe_connections c
    WHERE c.user_id = customers.user_id AND c.stripe_user_id = customers.stripe_account;
DROP INDEX customers_by_account;
CREATE INDEX customers_by_connection ON customers (connection_id, customer_id);
