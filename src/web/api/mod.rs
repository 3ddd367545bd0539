//! The JSON API under `/api/`, for programs holding an access token, browsable in HTML
//! with the logged-in session ([`browsable`]). Errors are `{"error": code, "message":
//! text}` ([`ApiError`]); bearer-token failures also carry the RFC 6750
//! `WWW-Authenticate` header. The OpenAPI document (`/api/schema/`) is generated from
//! the handlers here, and rendered as a reference at `/api/docs/`.

pub mod auth;
mod browsable;
mod customers;
mod docs;
pub mod error;
mod input;
mod me;
pub mod schema;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse, Resource};

use crate::web::with_and_without_slash;

pub use error::ApiError;

/// The `/api/` part of the OpenAPI document (see [`crate::web::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        me::me_get,
        customers::customers_create,
        customers::customers_list,
        customers::customer_get,
        customers::customer_delete,
        customers::portal_session_create,
    ),
    components(responses(
        schema::BadRequest,
        schema::Unauthorized,
        schema::Forbidden,
        schema::NotFound,
        schema::Conflict,
        schema::Gone,
        schema::PayloadTooLarge,
        schema::RequestTimeout,
        schema::UnsupportedMediaType,
        schema::BadGateway,
        schema::ServiceUnavailable,
        schema::GatewayTimeout,
    )),
    tags(
        (name = "customers", description = "A business's Stripe customers: their subscriptions and customer-portal sessions."),
        (name = "account", description = "What an access token stands for."),
    ),
)]
pub(crate) struct ApiPaths;

pub fn configure(cfg: &mut web::ServiceConfig) {
    with_and_without_slash(cfg, "/api/schema/", |path| {
        resource(path, "GET").route(web::get().to(schema::schema_get))
    });
    with_and_without_slash(cfg, "/api/docs/", |path| {
        resource(path, "GET").route(web::get().to(docs::docs_get))
    });
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(browsable::browsable))
            .configure(customers::configure)
            .configure(|cfg| {
                with_and_without_slash(cfg, "/me/", |path| {
                    resource(path, "GET").route(web::get().to(me::me_get))
                })
            }),
    );
}

async fn not_allowed(allow: &'static str) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed { allow })
}

/// An endpoint at `path`; any other method gets a JSON 405 with `Allow: allow`.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || not_allowed(allow)))
}
