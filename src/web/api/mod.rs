//! The JSON API under `/api/`, for programs holding an access token. Errors are
//! `{"error": code, "message": text}`; bearer-token failures also carry the RFC 6750
//! `WWW-Authenticate` header.

pub mod bearer;
mod customers;
pub mod error;
mod me;

use actix_web::web;

pub use bearer::BearerAuth;
pub use error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/api/me/", "/api/me"]).route(web::get().to(me::me_get)));
    customers::configure(cfg);
}
