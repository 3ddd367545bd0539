DROP TABLE stripe_webhook_events;
DROP TABLE stripe_connections;
DROP TABLE stripe_connect_states;
