//! bridgekeeper: a self-hostable OAuth 2 authorization server with a Stripe Connect bridge.
//!
//! Layers (see `docs/architecture.md`): `web` is the HTTP layer; it calls the domain
//! modules (`accounts`, `oauth`, `stripe`, `customers`), which own the rules and reach
//! the database only through `db`. Nothing flows back up, and only `web`, start-up and
//! the command line import actix-web or askama. The Stripe emulator is a crate of its
//! own (`crates/stripe-emulator`), which only start-up (sandbox mode) and the binary
//! (`stripe-emulator`) use.

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
pub mod files;
pub mod maintenance;
pub mod oauth;
pub mod startup;
pub mod stripe;
pub mod telemetry;
pub mod web;
