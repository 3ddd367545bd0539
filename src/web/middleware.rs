//! Cross-cutting HTTP behaviour: security headers on every response, one log line per
//! request (path only: query strings can carry codes and states), CORS for `/api/`, and
//! the fallback for unknown paths.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::web::error::PageError;
use crate::web::oauth::cors;
use crate::web::AppState;

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

/// CORS for `/api/`: a single-page app calls the API from its own origin with a bearer
/// token. An origin that some client registered gets its preflight answered and may read
/// the answers, including the `WWW-Authenticate` and `Retry-After` headers its error
/// handling needs. Credentials (cookies) are never allowed across origins, so a page
/// elsewhere gains nothing from a person's session; the bearer token is the credential.
pub async fn api_cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let origin = match req.headers().get(header::ORIGIN) {
        Some(origin) if req.path().starts_with("/api/") => origin.clone(),
        _ => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
    };
    let allowed = match (req.app_data::<web::Data<AppState>>(), origin.to_str()) {
        (Some(state), Ok(name)) => cors::any_client_allows(state, name).await,
        _ => false,
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = HttpResponse::NoContent().finish();
        if allowed {
            cors::allow_preflight(response.headers_mut(), origin, "GET, POST, DELETE");
        }
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    if allowed {
        let headers = response.headers_mut();
        cors::allow(headers, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate, Retry-After"),
        );
    }
    Ok(response.map_into_left_body())
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
