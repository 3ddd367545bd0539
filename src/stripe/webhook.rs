//! Stripe webhooks as this service reads them: the event envelope, and the
//! `Stripe-Signature` check, which lives in `stripe-wire` beside the signing the
//! emulator does (one implementation of the scheme for both sides).

use serde::Deserialize;

pub use stripe_wire::webhook::{sign, verify, SignatureError};

/// The event envelope, as far as this service reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created: i64,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub api_version: Option<String>,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}
