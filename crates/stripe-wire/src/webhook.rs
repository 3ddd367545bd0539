//! Stripe webhook signatures (`Stripe-Signature: t=…,v1=…[,v1=…][,v0=…]`).
//!
//! The signed message is `"<t>." + raw body`, HMAC-SHA256 keyed with the whole
//! `whsec_…` string, lowercase hex. Only `v1` counts (a `v0` is ignored, which blocks
//! downgrades); any `v1` may match any configured secret (rotation); the timestamp must
//! not be older than the tolerance. Messages follow Stripe's SDKs.

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Unable to extract timestamp and signatures from header")]
    Malformed,
    #[error("No signatures found with expected scheme")]
    NoV1,
    #[error("No signatures found matching the expected signature for payload")]
    NoMatch,
    /// Older than the tolerance, or further in the future than it (a replay signed
    /// ahead of time, or a sender's clock far off).
    #[error("Timestamp outside the tolerance zone")]
    OutsideTolerance,
    #[error("No webhook signing secret is configured")]
    NoSecrets,
}

fn signature(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(payload);
    // Lowercase hex, as Stripe writes it.
    context
        .sign()
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        })
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
            matched |= bool::from(expected.as_bytes().ct_eq(candidate.as_bytes()));
        }
    }
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    let tolerance = u64::try_from(tolerance_seconds).unwrap_or(0);
    if now.abs_diff(timestamp) > tolerance {
        return Err(SignatureError::OutsideTolerance);
    }
    Ok(timestamp)
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
        // HMAC-SHA256("whsec_test_secret", "1800000000.{}") computed independently, with
        // Python's hmac module.
        let expected = "c54fd4ffd4dd216571ba5d99b08a3cf927757e386c311b181f85788c2178e368";
        let header = sign(b"{}", &[SECRET], NOW);
        assert_eq!(header, format!("t={NOW},v1={expected}"));
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
    fn timestamps_beyond_the_tolerance_either_way_are_rejected() {
        let body = b"{}";
        for outside in [NOW - 301, NOW + 301, i64::MIN, i64::MAX] {
            let header = sign(body, &[SECRET], outside);
            assert_eq!(
                verify(body, &header, &secrets(&[SECRET]), 300, NOW),
                Err(SignatureError::OutsideTolerance),
                "{outside}"
            );
        }
        for inside in [NOW - 300, NOW + 60, NOW + 300] {
            let header = sign(body, &[SECRET], inside);
            assert!(
                verify(body, &header, &secrets(&[SECRET]), 300, NOW).is_ok(),
                "{inside}"
            );
        }
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
