//! The HTTP layer: thin handlers that parse requests, call the domain modules and turn
//! their answers (and errors) into pages or JSON. No business rule lives here.

pub mod api;
pub mod client_ip;
pub mod error;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod oauth;
pub mod openapi;
pub mod pages;
pub mod rate_limits;
pub mod session;
pub mod state;
pub mod stripe_webhooks;

use actix_web::http::header;
use actix_web::{web, HttpRequest, Resource};

pub use state::AppState;

/// Every route of the service. Routes are tried in this order, so the endpoints that
/// programs call (tokens, introspection, the API) come before the pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
    oauth::configure(cfg);
    api::configure(cfg);
    stripe_webhooks::configure(cfg);
    cfg.service(pages::static_css)
        .service(pages::static_api_docs_js);
    pages::configure(cfg);
}

/// The request's media type (`Content-Type` without its parameters), lowercased.
pub(crate) fn media_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|media_type| media_type.trim().to_ascii_lowercase())
}

/// Registers the endpoint `build` makes at `path` (written with its trailing slash)
/// and at the same path without it. Two plain resources are matched by comparing
/// strings; one resource with two paths is matched with a regular expression, on
/// every request that reaches it.
pub(crate) fn with_and_without_slash(
    cfg: &mut web::ServiceConfig,
    path: &str,
    build: impl Fn(&str) -> Resource,
) {
    cfg.service(build(path))
        .service(build(path.trim_end_matches('/')));
}
