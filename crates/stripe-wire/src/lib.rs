//! What bridgekeeper's Stripe client and the Stripe emulator must agree on, byte for
//! byte: Stripe's form encoding of request parameters ([`form`]) and the
//! `Stripe-Signature` scheme of webhooks ([`webhook`]). One copy, so the emulator cannot
//! drift from the client it stands in for.

pub mod form;
pub mod webhook;
