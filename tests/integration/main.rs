//! One integration-test binary: every test starts the real application on a random port
//! with its own database (SQLite by default; PostgreSQL when TEST_DATABASE_URL is set).

mod support;

mod accounts;
mod admin;
mod browser;
mod oauth;
mod startup;
