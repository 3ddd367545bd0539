//! The Stripe client, webhook verification and the Connect flow (no HTTP-framework types).
pub mod bridge;
pub mod client;
pub mod connect;
pub mod error;
pub mod form;
pub mod inbox;
pub mod platform_settings;
pub mod types;
pub mod webhook;

pub use client::{ClientConfig, ListSubscriptions, StripeClient};
pub use error::{StripeError, StripeErrorKind};
