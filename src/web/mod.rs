//! The HTTP layer: thin handlers that parse requests, call the domain modules and turn
//! their answers (and errors) into pages or JSON. No business rule lives here.

pub mod api;
pub mod error;
pub mod health;
pub mod middleware;
pub mod oauth;
pub mod openapi;
pub mod pages;
pub mod session;
pub mod state;
pub mod stripe_webhooks;

use actix_web::web;

pub use state::AppState;

/// Every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(pages::static_css)
        .service(pages::static_api_docs_js);
    pages::configure(cfg);
    oauth::configure(cfg);
    api::configure(cfg);
    stripe_webhooks::configure(cfg);
}
