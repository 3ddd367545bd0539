//! CORS headers for the token and revocation endpoints: only origins a client
//! registered, and on the actual response only the requesting client's own origins.
//! The authorization endpoint never answers CORS (R8). `/api/` uses the same
//! registered origins ([`crate::web::middleware::api_cors`]). Which origins those are
//! is [`crate::oauth::cors`]'s to say.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::web::AppState;

pub fn origin(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Adds `Access-Control-Allow-Origin` for `origin` (already checked by the caller).
pub fn allow(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
}

/// A preflight's answer for an allowed origin: `methods` with the two request headers
/// clients send, cached for ten minutes.
pub fn allow_preflight(headers: &mut HeaderMap, origin: HeaderValue, methods: &'static str) {
    allow(headers, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

/// Whether some client registered `origin` (the rule and its cache are
/// [`crate::oauth::cors`]). A database failure answers no.
pub async fn any_client_allows(state: &AppState, origin: &str) -> bool {
    state
        .oauth
        .cors
        .any_client_allows(&state.db, origin, state.now())
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "CORS origins could not be read");
            false
        })
}

/// `OPTIONS` preflight: allowed when some client registered the origin.
pub async fn preflight(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let mut response = HttpResponse::NoContent().finish();
    if let Some(origin) = origin(&req) {
        if any_client_allows(&state, &origin).await {
            if let Ok(value) = HeaderValue::from_str(&origin) {
                allow_preflight(response.headers_mut(), value, "POST");
            }
        }
    }
    response
}

/// Adds CORS to a token/revocation answer when the client named in the request
/// registered the request's origin.
pub async fn for_client(
    state: &AppState,
    req: &HttpRequest,
    client_id: Option<&str>,
    response: &mut HttpResponse,
) {
    let (Some(origin), Some(client_id)) = (origin(req), client_id) else {
        return;
    };
    let allowed = state
        .oauth
        .cors
        .client_allows(&state.db, client_id, &origin, state.now())
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "CORS origins could not be read");
            false
        });
    if let (true, Ok(value)) = (allowed, HeaderValue::from_str(&origin)) {
        allow(response.headers_mut(), value);
    }
}
