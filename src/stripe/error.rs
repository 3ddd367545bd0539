//! One error type for everything the Stripe client can meet: Stripe's v1 error envelope,
//! the flat OAuth error shape of the Connect host, and failures to reach Stripe at all.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeErrorKind {
    /// Stripe answered with an error status and a v1 envelope (`{"error": {...}}`).
    Api,
    /// The Connect OAuth host answered with its flat shape (`{"error": "invalid_grant", ...}`).
    OAuth,
    /// No answer: the connection failed or was dropped.
    Network,
    /// No answer in time.
    Timeout,
    /// An answer we could not read (not Stripe's JSON).
    Decode,
    /// The service has no Stripe credentials to call with.
    NotConfigured,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeError {
    pub kind: StripeErrorKind,
    /// HTTP status, when Stripe answered.
    pub status: Option<u16>,
    /// Stripe's `Request-Id` response header (`req_…`).
    pub request_id: Option<String>,
    /// v1: `error.type` (`invalid_request_error`, `api_error`, `idempotency_error`, …);
    /// OAuth: the `error` string (`invalid_grant`, …).
    pub error_type: Option<String>,
    pub code: Option<String>,
    pub param: Option<String>,
    pub message: String,
    /// How many attempts were made before giving up.
    pub attempts: u32,
}

impl std::fmt::Display for StripeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            StripeErrorKind::Network => write!(f, "could not reach Stripe: {}", self.message)?,
            StripeErrorKind::Timeout => write!(f, "Stripe did not answer in time")?,
            StripeErrorKind::NotConfigured => write!(f, "{}", self.message)?,
            _ => {
                write!(f, "Stripe error")?;
                if let Some(status) = self.status {
                    write!(f, " {status}")?;
                }
                if let Some(t) = &self.error_type {
                    write!(f, " {t}")?;
                }
                if let Some(code) = &self.code {
                    write!(f, "/{code}")?;
                }
                write!(f, ": {}", self.message)?;
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for StripeError {}

#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeError,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EnvelopeError {
    V1 {
        #[serde(rename = "type")]
        error_type: Option<String>,
        code: Option<String>,
        param: Option<String>,
        message: Option<String>,
    },
    OAuth(String),
}

#[derive(Deserialize)]
struct FlatOAuth {
    error_description: Option<String>,
}

impl StripeError {
    pub fn new(kind: StripeErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            request_id: None,
            error_type: None,
            code: None,
            param: None,
            message: message.into(),
            attempts: 1,
        }
    }

    /// Reads an error response: the v1 envelope, or the OAuth flat shape (told apart,
    /// as Stripe's SDKs do, by whether `error` is an object or a string).
    pub fn from_response(status: u16, request_id: Option<String>, body: &[u8]) -> Self {
        let mut error = match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope {
                error:
                    EnvelopeError::V1 {
                        error_type,
                        code,
                        param,
                        message,
                    },
            }) => Self {
                kind: StripeErrorKind::Api,
                error_type,
                code,
                param,
                message: message.unwrap_or_default(),
                ..Self::new(StripeErrorKind::Api, "")
            },
            Ok(Envelope {
                error: EnvelopeError::OAuth(code),
            }) => {
                let description = serde_json::from_slice::<FlatOAuth>(body)
                    .ok()
                    .and_then(|f| f.error_description)
                    .unwrap_or_default();
                Self {
                    error_type: Some(code.clone()),
                    code: Some(code),
                    message: description,
                    ..Self::new(StripeErrorKind::OAuth, "")
                }
            }
            Err(_) => Self::new(
                StripeErrorKind::Decode,
                format!("unexpected answer with status {status}"),
            ),
        };
        error.status = Some(status);
        error.request_id = request_id;
        error
    }

    pub fn is_network(&self) -> bool {
        matches!(
            self.kind,
            StripeErrorKind::Network | StripeErrorKind::Timeout
        )
    }

    /// Connect's answer when the account is not (or no longer) connected to the platform.
    pub fn is_not_connected(&self) -> bool {
        self.kind == StripeErrorKind::OAuth
            && self.code.as_deref() == Some("invalid_client")
            && self.message.contains("not connected")
    }

    /// 403 for a `Stripe-Account` the platform no longer has access to.
    pub fn is_account_access_revoked(&self) -> bool {
        self.status == Some(403)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_envelope_is_parsed_with_request_id() {
        let body = br#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"id","message":"No such customer: 'cus_x'"}}"#;
        let e = StripeError::from_response(404, Some("req_1".into()), body);
        assert_eq!(e.kind, StripeErrorKind::Api);
        assert_eq!(e.status, Some(404));
        assert_eq!(e.code.as_deref(), Some("resource_missing"));
        assert_eq!(e.param.as_deref(), Some("id"));
        assert_eq!(e.error_type.as_deref(), Some("invalid_request_error"));
        assert_eq!(e.request_id.as_deref(), Some("req_1"));
        assert!(e.to_string().contains("req_1"));
    }

    #[test]
    fn flat_oauth_errors_are_parsed() {
        let body = br#"{"error":"invalid_grant","error_description":"Authorization code does not exist: ac_1"}"#;
        let e = StripeError::from_response(400, None, body);
        assert_eq!(e.kind, StripeErrorKind::OAuth);
        assert_eq!(e.code.as_deref(), Some("invalid_grant"));
        assert_eq!(e.message, "Authorization code does not exist: ac_1");
    }

    #[test]
    fn non_json_answers_are_decode_errors() {
        let e = StripeError::from_response(502, None, b"<html>bad gateway</html>");
        assert_eq!(e.kind, StripeErrorKind::Decode);
        assert_eq!(e.status, Some(502));
    }
}
