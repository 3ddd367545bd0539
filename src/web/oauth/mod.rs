//! The OAuth endpoints: thin handlers over [`crate::oauth`]. Each path answers with
//! and without its trailing slash.

mod authorize;
pub(crate) mod cors;
mod discovery;
mod error;
mod introspect;
mod revoke;
mod token;

use actix_web::web;

pub use error::oauth_error_response;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/o/authorize/", "/o/authorize"])
            .route(web::get().to(authorize::authorize_get))
            .route(web::post().to(authorize::authorize_post)),
    )
    .service(
        web::resource(["/o/token/", "/o/token"])
            .route(web::post().to(token::token_post))
            .route(web::method(actix_web::http::Method::OPTIONS).to(cors::preflight)),
    )
    .service(
        web::resource(["/o/revoke_token/", "/o/revoke_token"])
            .route(web::post().to(revoke::revoke_post))
            .route(web::method(actix_web::http::Method::OPTIONS).to(cors::preflight)),
    )
    .service(
        web::resource(["/o/introspect/", "/o/introspect"])
            .route(web::post().to(introspect::introspect_post)),
    )
    .service(
        web::resource([
            "/.well-known/oauth-authorization-server",
            "/.well-known/oauth-authorization-server/",
        ])
        .route(web::get().to(discovery::metadata_get))
        .route(web::method(actix_web::http::Method::OPTIONS).to(discovery::public_preflight)),
    )
    .service(
        web::resource(["/o/jwks/", "/o/jwks"])
            .route(web::get().to(discovery::jwks_get))
            .route(web::method(actix_web::http::Method::OPTIONS).to(discovery::public_preflight)),
    );
}
