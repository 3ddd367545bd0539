//! The OAuth endpoints: thin handlers over [`crate::oauth`]. Each path answers with
//! and without its trailing slash.

mod authorize;
pub(crate) mod cors;
mod discovery;
mod docs;
mod error;
mod introspect;
mod revoke;
mod token;

use actix_web::{web, Resource};

pub use error::oauth_error_response;

/// The `/o/` part of the OpenAPI document (see [`crate::web::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        token::token_post,
        revoke::revoke_post,
        introspect::introspect_post,
        discovery::metadata_get,
        discovery::jwks_get,
    ),
    components(responses(
        docs::OAuthBadRequest,
        docs::OAuthUnauthorized,
        docs::OAuthTooManyRequests,
    )),
    tags((name = "oauth", description = "The OAuth 2 authorization server: tokens, revocation, introspection, metadata and keys. `/o/authorize/` is for browsers and not described here.")),
)]
pub(crate) struct OAuthPaths;

/// An endpoint at `paths`; any other method gets a 405 with `Allow: allow`.
fn resource(paths: [&str; 2], allow: &'static str) -> Resource {
    web::resource(paths).default_service(web::to(move || async move {
        error::method_not_allowed(allow)
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/o/authorize/", "/o/authorize"])
            .route(web::get().to(authorize::authorize_get))
            .route(web::post().to(authorize::authorize_post)),
    )
    .service(
        resource(["/o/token/", "/o/token"], "POST, OPTIONS")
            .route(web::post().to(token::token_post))
            .route(web::method(actix_web::http::Method::OPTIONS).to(cors::preflight)),
    )
    .service(
        resource(["/o/revoke_token/", "/o/revoke_token"], "POST, OPTIONS")
            .route(web::post().to(revoke::revoke_post))
            .route(web::method(actix_web::http::Method::OPTIONS).to(cors::preflight)),
    )
    .service(
        resource(["/o/introspect/", "/o/introspect"], "POST")
            .route(web::post().to(introspect::introspect_post)),
    )
    .service(
        resource(
            [
                "/.well-known/oauth-authorization-server",
                "/.well-known/oauth-authorization-server/",
            ],
            "GET, OPTIONS",
        )
        .route(web::get().to(discovery::metadata_get))
        .route(web::method(actix_web::http::Method::OPTIONS).to(discovery::public_preflight)),
    )
    .service(
        resource(["/o/jwks/", "/o/jwks"], "GET, OPTIONS")
            .route(web::get().to(discovery::jwks_get))
            .route(web::method(actix_web::http::Method::OPTIONS).to(discovery::public_preflight)),
    );
}
