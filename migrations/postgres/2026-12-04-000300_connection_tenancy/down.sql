-- Back to one connection row per business (its newest) and customers found by account.
DROP INDEX customers_by_connection;
CREATE INDEX customers_by_account ON customers (stripe_account, customer_id);
ALTER TABLE customers DROP COLUMN connection_id;

DELETE FROM stripe_connections c
    WHERE c.id <> (SELECT MAX(n.id) FROM stripe_connections n WHERE n.user_id = c.user_id);
DROP INDEX stripe_connections_live_per_account;
DROP INDEX stripe_connections_live_per_user;
DROP INDEX stripe_connections_by_user;
CREATE INDEX stripe_connections_by_account ON stripe_connections (stripe_user_id);
ALTER TABLE stripe_connections ADD CONSTRAINT stripe_connections_user_id_key UNIQUE (user_id);
