//! The OAuth endpoints: thin handlers over [`crate::oauth`]. Each path answers with
//! and without its trailing slash.

mod authorize;
mod client_form;
pub(crate) mod cors;
mod discovery;
mod docs;
pub(crate) mod error;
mod introspect;
mod revoke;
mod token;

use actix_web::http::Method;
use actix_web::{web, Resource};

use crate::web::with_and_without_slash;

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
        docs::OAuthRequestTimeout,
        docs::OAuthPayloadTooLarge,
        docs::OAuthTooManyRequests,
    )),
    tags((name = "oauth", description = "The OAuth 2 authorization server: tokens, revocation, introspection, metadata and keys. `/o/authorize/` is for browsers and not described here.")),
)]
pub(crate) struct OAuthPaths;

/// An endpoint at `path`; any other method gets a 405 with `Allow: allow`.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(
        move || async move { error::method_not_allowed(allow) },
    ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    with_and_without_slash(cfg, "/o/token/", |path| {
        resource(path, "POST, OPTIONS")
            .route(web::post().to(token::token_post))
            .route(web::method(Method::OPTIONS).to(cors::preflight))
    });
    with_and_without_slash(cfg, "/o/introspect/", |path| {
        resource(path, "POST").route(web::post().to(introspect::introspect_post))
    });
    with_and_without_slash(cfg, "/o/authorize/", |path| {
        web::resource(path)
            .route(web::get().to(authorize::authorize_get))
            .route(web::post().to(authorize::authorize_post))
    });
    with_and_without_slash(cfg, "/o/revoke_token/", |path| {
        resource(path, "POST, OPTIONS")
            .route(web::post().to(revoke::revoke_post))
            .route(web::method(Method::OPTIONS).to(cors::preflight))
    });
    with_and_without_slash(cfg, "/.well-known/oauth-authorization-server/", |path| {
        resource(path, "GET, OPTIONS")
            .route(web::get().to(discovery::metadata_get))
            .route(web::method(Method::OPTIONS).to(discovery::public_preflight))
    });
    with_and_without_slash(cfg, "/o/jwks/", |path| {
        resource(path, "GET, OPTIONS")
            .route(web::get().to(discovery::jwks_get))
            .route(web::method(Method::OPTIONS).to(discovery::public_preflight))
    });
}
