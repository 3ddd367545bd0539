//! PKCE (RFC 7636), S256 only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::crypto::{constant_time_eq, sha256};

use super::error::OAuthError;

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// A `code_verifier`: 43–128 characters of `[A-Za-z0-9-._~]`.
pub fn validate_verifier(verifier: &str) -> Result<(), OAuthError> {
    let len = verifier.len();
    if !(43..=128).contains(&len) || !verifier.bytes().all(is_unreserved) {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
        ));
    }
    Ok(())
}

/// A `code_challenge` for S256: the base64url (no padding) of a SHA-256, 43 characters.
pub fn validate_challenge(challenge: &str, method: Option<&str>) -> Result<(), OAuthError> {
    match method {
        Some("S256") => {}
        Some("plain") => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method plain is not allowed; use S256",
            ))
        }
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            ))
        }
        None => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method is required and must be S256",
            ))
        }
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(OAuthError::invalid_request(
            "code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)",
        ));
    }
    Ok(())
}

pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

/// Checks a verifier against the challenge stored with the code. A code stored
/// without a challenge never accepts a verifier (no PKCE downgrade).
pub fn verify(stored_challenge: &str, verifier: Option<&str>) -> Result<(), OAuthError> {
    let Some(verifier) = verifier else {
        return Err(OAuthError::invalid_request("code_verifier is required"));
    };
    validate_verifier(verifier)?;
    if stored_challenge.is_empty() {
        return Err(OAuthError::invalid_grant(
            "this code was issued without a code_challenge and cannot be redeemed with a code_verifier",
        ));
    }
    if !constant_time_eq(
        s256_challenge(verifier).as_bytes(),
        stored_challenge.as_bytes(),
    ) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn s256_is_base64url_of_sha256_as_openssl_computes_it() {
        // printf %s VERIFIER | openssl dgst -sha256 -binary | base64url
        let verifier = "dBjftJeZ4CVP-mJ92K6Ts-Yd-aYL0hY-PqCHhjbgu9E";
        assert_eq!(
            s256_challenge(verifier),
            "Z4w5HCbViOSeVT0vcGUn8VwhS3i8AcKzU13zubeKqQE"
        );
        assert!(verify(
            "Z4w5HCbViOSeVT0vcGUn8VwhS3i8AcKzU13zubeKqQE",
            Some(verifier)
        )
        .is_ok());
    }

    #[test]
    fn verifier_length_bounds() {
        assert!(validate_verifier(&"a".repeat(42)).is_err());
        assert!(validate_verifier(&"a".repeat(43)).is_ok());
        assert!(validate_verifier(&"a".repeat(128)).is_ok());
        assert!(validate_verifier(&"a".repeat(129)).is_err());
        assert!(validate_verifier(&format!("{}+", "a".repeat(43))).is_err());
    }

    #[test]
    fn plain_and_missing_methods_are_rejected() {
        let challenge = s256_challenge(&"a".repeat(43));
        assert!(validate_challenge(&challenge, Some("S256")).is_ok());
        assert!(validate_challenge(&challenge, Some("plain")).is_err());
        assert!(validate_challenge(&challenge, None).is_err());
        assert!(validate_challenge("short", Some("S256")).is_err());
    }

    #[test]
    fn a_code_without_challenge_never_accepts_a_verifier() {
        assert_eq!(
            verify("", Some(&"a".repeat(43)))
                .expect_err("refused")
                .code(),
            "invalid_grant"
        );
    }

    proptest! {
        #[test]
        fn verifiers_of_the_unreserved_set_are_accepted(v in "[A-Za-z0-9._~-]{43,128}") {
            prop_assert!(validate_verifier(&v).is_ok());
            prop_assert!(verify(&s256_challenge(&v), Some(&v)).is_ok());
        }

        #[test]
        fn any_other_verifier_is_rejected_without_panicking(v in "\\PC{0,200}") {
            let ok = (43..=128).contains(&v.len())
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            prop_assert_eq!(validate_verifier(&v).is_ok(), ok);
        }

        #[test]
        fn a_different_verifier_never_matches(a in "[A-Za-z0-9]{43}", b in "[A-Za-z0-9]{43}") {
            prop_assume!(a != b);
            prop_assert!(verify(&s256_challenge(&a), Some(&b)).is_err());
        }
    }
}
