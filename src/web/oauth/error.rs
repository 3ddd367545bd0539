//! OAuth errors as RFC 6749 §5.2 JSON: `{"error", "error_description"}`, never cached;
//! 401 with `WWW-Authenticate: Basic` when client authentication failed, 429 with
//! `Retry-After` when it is throttled, 500 (cause logged, not shown) for our faults.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde_json::json;

use crate::oauth::OAuthError;

pub const REALM: &str = "bridgekeeper";

pub fn oauth_error_response(error: &OAuthError) -> HttpResponse {
    let status = match error {
        OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
        OAuthError::ClientThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
        OAuthError::ServerError(cause) => {
            tracing::error!(%cause, "OAuth request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    match error {
        OAuthError::InvalidClient(_) => {
            response.insert_header((header::WWW_AUTHENTICATE, format!("Basic realm=\"{REALM}\"")));
        }
        OAuthError::ClientThrottled {
            retry_after_seconds,
        } => {
            response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
        }
        _ => {}
    }
    response.json(json!({
        "error": error.code(),
        "error_description": error.description(),
    }))
}

/// A JSON answer that carries credentials: never stored by any cache (R31).
pub fn no_store_json(body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}
