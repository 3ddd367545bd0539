//! One integration-test binary: every test starts the real application on a random port
//! with its own database (SQLite by default; PostgreSQL when TEST_DATABASE_URL is set).
#![expect(
    clippy::expect_used,
    reason = "test code: a failed expectation is the test failing, with its message"
)]

mod support;

mod accounts;
mod admin;
mod api_cors;
mod api_docs;
mod browsable_api;
mod browser;
mod customers;
mod docs;
mod faults;
mod guide;
mod limits;
mod oauth;
mod observability;
mod rate_limits;
mod sessions;
mod startup;
mod stripe_browser;
mod stripe_client;
mod stripe_connect;
mod stripe_emulator_pages;
mod stripe_logs;
mod stripe_openapi;
mod stripe_platform;
mod stripe_webhooks;
mod tenancy;
mod throttles;
