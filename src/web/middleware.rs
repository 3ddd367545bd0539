//! Cross-cutting HTTP behaviour: security headers on every response, one log line per
//! request (path only: query strings can carry codes and states), and the fallback
//! for unknown paths.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::web::error::PageError;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

/// Headers every response carries unless a handler set its own.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::CACHE_CONTROL, "no-store"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
}

pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let response = next.call(req).await?;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(%method, %path, status, elapsed_ms, "request");
    } else {
        tracing::info!(%method, %path, status, elapsed_ms, "request");
    }
    Ok(response)
}

/// 404 for unknown paths: JSON for programs (`/api/`, `/o/`), a page for people.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    if path.starts_with("/api/") || path.starts_with("/o/") || path.starts_with("/.well-known/") {
        HttpResponse::NotFound().json(serde_json::json!({
            "error": "not_found",
            "message": format!("no endpoint at {path}"),
        }))
    } else {
        PageError::NotFound.error_response()
    }
}
