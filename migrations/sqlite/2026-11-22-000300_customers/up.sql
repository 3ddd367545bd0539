-- Customers a business recorded through /api/customers/, and the local copy of each
-- one's subscriptions that reads are served from. `version` is the Stripe time of the
-- state a row holds (an event's `created`, or the moment it was fetched), so an older
-- event arriving late never overwrites a newer state.
CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stripe_account TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    email TEXT,
    name TEXT,
    livemode BOOLEAN NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    fetched_at BIGINT NOT NULL,
    UNIQUE (user_id, customer_id)
);
CREATE INDEX customers_by_account ON customers (stripe_account, customer_id);

CREATE TABLE customer_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_pk BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    subscription_id TEXT NOT NULL,
    status TEXT NOT NULL,
    renews_at BIGINT,
    document TEXT NOT NULL,
    version BIGINT NOT NULL,
    UNIQUE (customer_pk, subscription_id)
);
