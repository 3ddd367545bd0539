//! The one error type of `/api/`: `{"error": code, "message": text}` (plus `field` on a
//! 400), with a stable code per status; bearer-token failures also carry the RFC 6750
//! `WWW-Authenticate` challenge. [`ERROR_CODES`] lists every code with its status: the
//! OpenAPI document's error schemas are built from it, and a test holds every variant
//! to it.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::db::DbError;
use crate::error::{BoxError, Chain, Internal};

const REALM: &str = "bridgekeeper";

/// One stable `error` code: the status it comes with and when.
pub struct ErrorCode {
    pub status: u16,
    pub code: &'static str,
    pub when: &'static str,
}

const fn code(status: u16, code: &'static str, when: &'static str) -> ErrorCode {
    ErrorCode { status, code, when }
}

/// Every `error` code `/api/` answers with (docs/api.md, "Errors").
pub const ERROR_CODES: &[ErrorCode] = &[
    code(400, "invalid_request", "malformed JSON, an unknown field, a customer_id not of Stripe's form, a bad return_url or limit; `field` says which"),
    code(401, "unauthorized", "no access token: send `Authorization: Bearer <token>`"),
    code(401, "invalid_token", "the token is invalid, expired or revoked"),
    code(401, "invalid_request", "a token in the URL, or a malformed `Authorization` header"),
    code(403, "insufficient_scope", "the token lacks the scope this operation needs"),
    code(404, "not_found", "no endpoint at this path, or the token's business no longer exists"),
    code(404, "customer_not_found", "Stripe has no such customer in the connected account"),
    code(404, "customer_not_recorded", "this business has not recorded the customer: `POST /api/customers/` first"),
    code(405, "method_not_allowed", "the path does not answer this method; `Allow` lists those it does"),
    code(409, "stripe_not_connected", "the business has no active Stripe connection (never connected, disconnected, or access revoked in Stripe)"),
    code(409, "customer_detached", "the customer was recorded under a Stripe connection that has ended (disconnected, access revoked in Stripe, or another account connected since): it is no longer read from Stripe; reconnecting that account attaches it again"),
    code(409, "portal_not_configured", "the connected account never saved its customer-portal settings; `message` is Stripe's"),
    code(410, "customer_deleted", "the customer was deleted in Stripe"),
    code(408, "request_timeout", "the body did not arrive within `REQUEST_BODY_TIMEOUT_SECONDS` (10 s) of the headers"),
    code(413, "payload_too_large", "the body is larger than 64 KiB"),
    code(415, "unsupported_media_type", "a body that is not `application/json`"),
    code(500, "internal_error", "the server failed; the cause is logged, never shown"),
    code(502, "stripe_error", "Stripe refused the request for another reason, or its answer could not be read; `message` has Stripe's words, status and request id"),
    code(503, "stripe_unavailable", "Stripe could not be reached, rate-limited or failed after retries; `Retry-After` says when to try again (the cause is logged, never shown)"),
    code(503, "service_unavailable", "the service cannot reach its database for the moment (an outage or restart); `Retry-After` says when to try again"),
    code(504, "stripe_timeout", "Stripe did not answer in time"),
];

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials at all: 401 with a bare `Bearer` challenge.
    #[error("this endpoint needs an access token: send Authorization: Bearer <token>")]
    MissingToken,
    /// A malformed request about the token (e.g. sent in the URL): 401 invalid_request.
    #[error("{0}")]
    InvalidRequest(String),
    /// Bad, expired or revoked token: 401 invalid_token.
    #[error("{0}")]
    InvalidToken(String),
    /// Valid token without the scope: 403 insufficient_scope.
    #[error("this request needs the scope {0}")]
    InsufficientScope(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// A malformed request body or parameter: 400 naming the field.
    #[error("{field}: {message}")]
    BadRequest { field: String, message: String },
    /// The path exists but not with this method: 405 with `Allow`.
    #[error("this endpoint answers {allow} only")]
    MethodNotAllowed { allow: &'static str },
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("the body did not arrive in time")]
    RequestTimeout,
    /// A domain refusal with its own status and stable code (409, 404, 410, 502, 504).
    #[error("{message}")]
    Domain {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// A dependency is down: 503 with `Retry-After`.
    #[error("{message}")]
    Unavailable {
        code: &'static str,
        message: String,
        retry_after_seconds: i64,
    },
    /// The server's own failure: the answer says so and nothing more; the log line
    /// has the cause and where it was turned into this error.
    #[error(transparent)]
    Internal(Internal),
}

impl From<DbError> for ApiError {
    #[track_caller]
    fn from(e: DbError) -> Self {
        ApiError::internal(e)
    }
}

impl ApiError {
    #[track_caller]
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        ApiError::Internal(Internal::new(cause))
    }

    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The server's own failure because its database cannot be reached: answered 503
    /// with `Retry-After`, not 500.
    fn database_unavailable(&self) -> bool {
        matches!(self, ApiError::Internal(internal) if crate::db::unavailable_in(internal))
    }

    pub fn code(&self) -> &'static str {
        match self {
            _ if self.database_unavailable() => "service_unavailable",
            ApiError::MissingToken => "unauthorized",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::InsufficientScope(_) => "insufficient_scope",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest { .. } => "invalid_request",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Domain { code, .. } | ApiError::Unavailable { code, .. } => code,
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn challenge(&self) -> Option<String> {
        match self {
            ApiError::MissingToken => Some(format!("Bearer realm=\"{REALM}\"")),
            ApiError::InvalidRequest(m) | ApiError::InvalidToken(m) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
                self.code(),
                m.replace(['"', '\\'], "'")
            )),
            ApiError::InsufficientScope(scope) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MissingToken | ApiError::InvalidRequest(_) | ApiError::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Domain { status, .. } => *status,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ if self.database_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Internal(internal) if self.database_unavailable() => {
                tracing::warn!(error = %Chain(internal), "API request failed: the database is unavailable");
                "the service is temporarily unavailable; retry later".to_owned()
            }
            ApiError::Internal(internal) => {
                // Logged once, here, with its chain; the answer says nothing of it.
                tracing::error!(error = %Chain(internal), "API request failed");
                "the server could not finish this request".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.challenge() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        match self {
            ApiError::Unavailable {
                retry_after_seconds,
                ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            ApiError::Internal(_) if self.database_unavailable() => {
                let retry_after = crate::db::UNAVAILABLE_RETRY_AFTER_SECONDS;
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            ApiError::BadRequest { field, .. } => {
                return response
                    .json(json!({ "error": self.code(), "message": message, "field": field }));
            }
            _ => {}
        }
        response.json(json!({ "error": self.code(), "message": message }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documented(error: &ApiError) -> bool {
        let status = error.status_code().as_u16();
        ERROR_CODES
            .iter()
            .any(|c| c.status == status && c.code == error.code())
    }

    #[test]
    fn every_error_answer_is_a_documented_code_for_its_status() {
        let errors = [
            ApiError::MissingToken,
            ApiError::InvalidRequest("token in the URL".into()),
            ApiError::InvalidToken("expired".into()),
            ApiError::InsufficientScope("customers:write"),
            ApiError::NotFound("gone".into()),
            ApiError::bad_request("limit", "a number"),
            ApiError::MethodNotAllowed { allow: "GET" },
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::UnsupportedMediaType,
            ApiError::internal("boom"),
        ];
        for error in &errors {
            assert!(documented(error), "{error:?} is not in ERROR_CODES");
        }
    }

    #[test]
    fn customer_errors_map_to_documented_codes() {
        use crate::customers::CustomerError;
        let errors = [
            CustomerError::Invalid {
                field: "customer_id",
                message: "bad".into(),
            },
            CustomerError::NotConnected,
            CustomerError::NotFound("cus_1".into()),
            CustomerError::NotRecorded("cus_1".into()),
            CustomerError::Deleted("cus_1".into()),
            CustomerError::Detached {
                customer_id: "cus_1".into(),
                account: "acct_1".into(),
            },
            CustomerError::PortalNotConfigured("save them".into()),
        ];
        for error in errors {
            let api = ApiError::from(error);
            assert!(documented(&api), "{api:?} is not in ERROR_CODES");
        }
    }

    #[test]
    fn an_internal_error_answer_says_nothing_of_its_cause() {
        let cause = DbError::task("the SQLite writer has stopped");
        let response = ApiError::from(cause).error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = crate::web::error::body_in_memory(response).expect("a body in memory");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            json,
            json!({
                "error": "internal_error",
                "message": "the server could not finish this request",
            })
        );
    }
}
