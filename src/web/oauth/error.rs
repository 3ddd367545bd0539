//! OAuth errors as RFC 6749 §5.2 JSON: `{"error", "error_description"}`, never cached;
//! 401 with `WWW-Authenticate: Basic` when client authentication failed, 429 with
//! `Retry-After` when it is throttled, 503 `temporarily_unavailable` with `Retry-After`
//! when the database cannot be reached, 500 (cause logged, not shown) for our faults.
//! [`ERROR_CODES`] lists the codes per status for the OpenAPI document.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde::Serialize;

use crate::error::Chain;
use crate::oauth::OAuthError;
use crate::web::api::error::ErrorCode;

pub const REALM: &str = "bridgekeeper";

/// Every `error` code the `/o/` endpoints answer with, per status.
pub const ERROR_CODES: &[ErrorCode] = &[
    ErrorCode { status: 400, code: "invalid_request", when: "a missing, repeated or malformed parameter, or a body that is not a form" },
    ErrorCode { status: 400, code: "invalid_grant", when: "the code or refresh token is invalid, expired, used or revoked, or was issued to another client or redirect URI, or the PKCE verifier does not match" },
    ErrorCode { status: 400, code: "unauthorized_client", when: "the client is not registered for this grant type" },
    ErrorCode { status: 400, code: "unsupported_grant_type", when: "a grant type other than authorization_code, refresh_token and client_credentials" },
    ErrorCode { status: 400, code: "invalid_scope", when: "an unknown scope, or more than the client or the refreshed grant has" },
    ErrorCode { status: 400, code: "unsupported_token_type", when: "revocation of a token type this server does not revoke" },
    ErrorCode { status: 401, code: "invalid_client", when: "client authentication failed (unknown client, wrong secret, a secret sent for a public client, or a public client at the introspection endpoint)" },
    ErrorCode { status: 405, code: "invalid_request", when: "the endpoint does not answer this method; `Allow` lists those it does" },
    ErrorCode { status: 408, code: "invalid_request", when: "the body did not arrive within `REQUEST_BODY_TIMEOUT_SECONDS` (10 s) of the headers" },
    ErrorCode { status: 413, code: "invalid_request", when: "the body is larger than 64 KiB" },
    ErrorCode { status: 429, code: "temporarily_unavailable", when: "more requests from this address or for this client than its budget (`RATE_LIMIT_OAUTH_PER_IP`, `RATE_LIMIT_OAUTH_PER_CLIENT`); `Retry-After` says when to try again" },
    ErrorCode { status: 429, code: "invalid_client", when: "too many failed client authentications; `Retry-After` says when to try again" },
    ErrorCode { status: 500, code: "server_error", when: "the server failed; the cause is logged, never shown" },
    ErrorCode { status: 503, code: "temporarily_unavailable", when: "the server cannot reach its database for the moment (an outage or restart); `Retry-After` says when to try again" },
];

/// The error body of RFC 6749 §5.2.
#[derive(Serialize)]
pub struct OAuthErrorBody {
    pub error: &'static str,
    pub error_description: String,
}

pub fn status(error: &OAuthError) -> StatusCode {
    match error {
        OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
        OAuthError::ClientThrottled { .. } | OAuthError::RateLimited { .. } => {
            StatusCode::TOO_MANY_REQUESTS
        }
        _ if database_unavailable(error) => StatusCode::SERVICE_UNAVAILABLE,
        OAuthError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Our failure because the database cannot be reached: the client may try again soon.
fn database_unavailable(error: &OAuthError) -> bool {
    matches!(error, OAuthError::ServerError(internal) if crate::db::unavailable_in(internal))
}

pub fn oauth_error_response(error: &OAuthError) -> HttpResponse {
    if let OAuthError::ServerError(internal) = error {
        // Logged once, here, with its chain; the answer says nothing of it.
        if database_unavailable(error) {
            tracing::warn!(error = %Chain(internal), "OAuth request failed: the database is unavailable");
            let retry_after = crate::db::UNAVAILABLE_RETRY_AFTER_SECONDS;
            return HttpResponse::ServiceUnavailable()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .insert_header((header::RETRY_AFTER, retry_after.to_string()))
                .json(OAuthErrorBody {
                    error: "temporarily_unavailable",
                    error_description: format!(
                        "the server is temporarily unavailable; retry in {retry_after} seconds"
                    ),
                });
        }
        tracing::error!(error = %Chain(internal), "OAuth request failed");
    }
    let mut response = HttpResponse::build(status(error));
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    match error {
        OAuthError::InvalidClient(_) => {
            response.insert_header((header::WWW_AUTHENTICATE, format!("Basic realm=\"{REALM}\"")));
        }
        OAuthError::ClientThrottled {
            retry_after_seconds,
        }
        | OAuthError::RateLimited {
            retry_after_seconds,
        } => {
            response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
        }
        _ => {}
    }
    response.json(OAuthErrorBody {
        error: error.code(),
        error_description: error.description(),
    })
}

/// 405 for a method an endpoint does not answer, in the endpoint's own error shape.
pub fn method_not_allowed(allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(OAuthErrorBody {
            error: "invalid_request",
            error_description: format!("this endpoint answers {allow} only"),
        })
}

/// A JSON answer that carries credentials: never stored by any cache (R31).
pub fn no_store_json(body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oauth_error_is_a_documented_code_for_its_status() {
        let errors = [
            OAuthError::invalid_request("x"),
            OAuthError::InvalidClient("x".into()),
            OAuthError::invalid_grant("x"),
            OAuthError::UnauthorizedClient("x".into()),
            OAuthError::UnsupportedGrantType("x".into()),
            OAuthError::InvalidScope("x".into()),
            OAuthError::UnsupportedTokenType("x".into()),
            OAuthError::ClientThrottled {
                retry_after_seconds: 1,
            },
            OAuthError::RateLimited {
                retry_after_seconds: 1,
            },
            OAuthError::server_error("x"),
        ];
        for error in &errors {
            let status = status(error).as_u16();
            assert!(
                ERROR_CODES
                    .iter()
                    .any(|c| c.status == status && c.code == error.code()),
                "{error:?} is not in ERROR_CODES"
            );
        }
    }

    #[test]
    fn an_unreachable_database_is_answered_503_with_retry_after_and_no_internals() {
        let cause = crate::db::DbError::unavailable("connection refused on 10.0.0.7:5432");
        let response = oauth_error_response(&OAuthError::server_error(cause));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"5"[..])
        );
        let body = crate::web::error::body_in_memory(response).expect("a body in memory");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(json["error"], "temporarily_unavailable");
        assert!(!json.to_string().contains("10.0.0.7"), "{json}");
    }

    #[test]
    fn a_server_error_answer_says_nothing_of_its_cause() {
        let cause = crate::db::DbError::task("the SQLite writer has stopped");
        let response = oauth_error_response(&OAuthError::server_error(cause));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = crate::web::error::body_in_memory(response).expect("a body in memory");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            json,
            serde_json::json!({
                "error": "server_error",
                "error_description": "the server could not finish this request",
            })
        );
    }
}
