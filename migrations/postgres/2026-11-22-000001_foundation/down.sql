DROP TABLE stripe_webhook_secrets;
DROP TABLE stripe_platform_settings;
DROP TABLE audit_events;
DROP TABLE auth_failures;
DROP TABLE users;
