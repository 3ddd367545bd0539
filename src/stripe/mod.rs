//! The Stripe client, webhook verification and the Connect flow (no HTTP-framework types).
pub mod bridge;
pub mod client;
pub mod connect;
pub mod error;
pub mod inbox;
pub mod platform_settings;
pub mod types;
pub mod webhook;

/// Stripe's form encoding, shared with the emulator (`crates/stripe-wire`).
pub use stripe_wire::form;

pub use client::{ClientConfig, ListSubscriptions, StripeClient};
pub use error::{StripeError, StripeErrorKind};
