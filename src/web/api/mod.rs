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
    cfg.service(
        web::resource(["/api/schema/", "/api/schema"])
            .route(web::get().to(schema::schema_get))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::resource(["/api/docs/", "/api/docs"])
            .route(web::get().to(docs::docs_get))
            .default_service(web::to(|| not_allowed("GET"))),
    )
    .service(
        web::scope("/api")
            .wrap(from_fn(browsable::browsable))
            .service(resource(["/me/", "/me"], "GET").route(web::get().to(me::me_get)))
            .configure(customers::configure),
    );
}

async fn not_allowed(allow: &'static str) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed { allow })
}

/// An endpoint at `paths` (with and without the trailing slash); any other method gets
/// a JSON 405 with `Allow: allow`.
fn resource(paths: [&str; 2], allow: &'static str) -> Resource {
    web::resource(paths).default_service(web::to(move || not_allowed(allow)))
}
