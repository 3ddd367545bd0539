//! CORS for the token and revocation endpoints: only origins a client registered, and
//! on the actual response only the requesting client's own origins. The authorization
//! endpoint never answers CORS (R8). `/api/` uses the same registered origins
//! ([`crate::web::middleware::api_cors`]).

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::db::oauth_clients;
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

/// Whether some client registered `origin` as a CORS origin.
pub async fn any_client_allows(state: &AppState, origin: String) -> bool {
    let like = origin.clone();
    state
        .db
        .read(move |conn| {
            Ok::<_, crate::db::DbError>(oauth_clients::with_cors_origin_like(conn, &like)?)
        })
        .await
        .map(|lists| {
            lists
                .iter()
                .any(|list| list.split(' ').any(|o| o == origin))
        })
        .unwrap_or(false)
}

/// `OPTIONS` preflight: allowed when some client registered the origin.
pub async fn preflight(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let mut response = HttpResponse::NoContent().finish();
    if let Some(origin) = origin(&req) {
        if any_client_allows(&state, origin.clone()).await {
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
    client: Option<&crate::oauth::client::Client>,
    client_id: Option<String>,
    response: &mut HttpResponse,
) {
    let Some(origin) = origin(req) else {
        return;
    };
    let allowed = match (client, client_id) {
        (Some(client), _) => client.allows_origin(&origin),
        (None, Some(client_id)) => crate::oauth::clients::find(&state.db, client_id)
            .await
            .ok()
            .flatten()
            .is_some_and(|c| c.allows_origin(&origin)),
        (None, None) => false,
    };
    if let (true, Ok(value)) = (allowed, HeaderValue::from_str(&origin)) {
        allow(response.headers_mut(), value);
    }
}
