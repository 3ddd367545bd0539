//! bridgekeeper: a self-hostable OAuth 2 authorization server with a Stripe Connect bridge.
//!
//! Layers (see `docs/architecture.md`): `web` is the HTTP layer; it calls the domain
//! modules (`accounts`, `oauth`, `stripe`, `customers`), which own the rules and reach
//! the database only through `db`. Nothing flows back up, and only `web`, `sandbox` (the
//! Stripe emulator, a server of its own) and start-up import actix-web or askama.

pub mod accounts;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod customers;
pub mod db;
pub mod error;
pub mod events;
pub mod maintenance;
pub mod oauth;
pub mod sandbox;
pub mod startup;
pub mod stripe;
pub mod telemetry;
pub mod web;
