//! The Stripe client, webhook verification and the Connect flow (no HTTP-framework types).
pub mod platform_settings;
