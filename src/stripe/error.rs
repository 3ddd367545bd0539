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

    /// What a business may be told of this failure, as one sentence: what happened, with
    /// Stripe's own words, HTTP status and `Request-Id` when Stripe answered. A failure to
    /// reach Stripe says only that: the transport's text (resolver and socket errors,
    /// addresses, URLs) stays in the log line, which has [`Display`](std::fmt::Display).
    pub fn public_message(&self) -> String {
        let attempts = (self.attempts > 1).then(|| format!("after {} attempts", self.attempts));
        let mut text = match self.kind {
            StripeErrorKind::Network => "Stripe could not be reached".to_owned(),
            StripeErrorKind::Timeout => "Stripe did not answer in time".to_owned(),
            StripeErrorKind::NotConfigured => self.message.clone(),
            StripeErrorKind::Decode => "Stripe's answer could not be read".to_owned(),
            StripeErrorKind::Api | StripeErrorKind::OAuth => match self.status {
                Some(status) => format!("Stripe answered HTTP {status}"),
                None => "Stripe refused the request".to_owned(),
            },
        };
        let mut details: Vec<String> = Vec::new();
        if self.kind == StripeErrorKind::Decode {
            details.extend(self.status.map(|s| format!("HTTP {s}")));
        }
        details.extend(self.request_id.as_ref().map(|id| format!("request {id}")));
        details.extend(attempts);
        if !details.is_empty() {
            text.push_str(&format!(" ({})", details.join(", ")));
        }
        let words = self.message.trim();
        if matches!(self.kind, StripeErrorKind::Api | StripeErrorKind::OAuth) && !words.is_empty() {
            text.push_str(": ");
            text.push_str(words);
        }
        if !text.ends_with(['.', '!', '?']) {
            text.push('.');
        }
        text
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
    fn the_public_message_never_carries_the_transports_text() {
        let mut network = StripeError::new(
            StripeErrorKind::Network,
            "error sending request for url (http://127.0.0.1:9/v1/customers/cus_1): client error (Connect): tcp connect error: Connection refused (os error 111)",
        );
        network.attempts = 3;
        let shown = network.public_message();
        assert_eq!(shown, "Stripe could not be reached (after 3 attempts).");
        assert!(
            network.to_string().contains("tcp connect error"),
            "the log keeps it"
        );
        let dns = StripeError::new(
            StripeErrorKind::Network,
            "error sending request: client error (Connect): dns error: failed to lookup address information",
        );
        assert_eq!(dns.public_message(), "Stripe could not be reached.");
        let timeout = StripeError::new(StripeErrorKind::Timeout, "operation timed out");
        assert_eq!(timeout.public_message(), "Stripe did not answer in time.");
        let decode = StripeError::new(
            StripeErrorKind::Decode,
            "unexpected answer from /v1/customers/cus_1: expected value at line 1 column 1",
        );
        assert_eq!(
            decode.public_message(),
            "Stripe's answer could not be read."
        );
    }

    #[test]
    fn the_public_message_keeps_stripes_words_status_and_request_id() {
        let body = br#"{"error":{"type":"api_error","message":"An unknown error occurred"}}"#;
        let mut e = StripeError::from_response(503, Some("req_9".into()), body);
        e.attempts = 2;
        assert_eq!(
            e.public_message(),
            "Stripe answered HTTP 503 (request req_9, after 2 attempts): An unknown error occurred."
        );
        let body =
            br#"{"error":{"type":"invalid_request_error","message":"No such price: 'price_x'"}}"#;
        let e = StripeError::from_response(400, None, body);
        assert_eq!(
            e.public_message(),
            "Stripe answered HTTP 400: No such price: 'price_x'."
        );
    }

    #[test]
    fn non_json_answers_are_decode_errors() {
        let e = StripeError::from_response(502, None, b"<html>bad gateway</html>");
        assert_eq!(e.kind, StripeErrorKind::Decode);
        assert_eq!(e.status, Some(502));
    }
}
