//! Public documents: RFC 8414 metadata and the JWKS. Any origin may read them.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::oauth::keys::{self, Jwks};
use crate::oauth::metadata::{self, ServerMetadata};
use crate::web::AppState;

fn public_json(body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(body)
}

/// Server metadata
///
/// The authorization server's metadata (RFC 8414). Any origin may read it.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "oauth",
    responses((status = 200, description = "The metadata.", body = ServerMetadata)),
)]
pub async fn metadata_get(state: web::Data<AppState>) -> HttpResponse {
    let alg = keys::algorithm_name(state.settings.oauth.signing_algorithm);
    public_json(&metadata::document(&state.oauth.issuer, alg))
}

/// Signing keys
///
/// The public keys that verify access tokens (a JWKS). A retired key stays listed until
/// the tokens it signed have expired. Any origin may read it.
#[utoipa::path(
    get,
    path = "/o/jwks/",
    tag = "oauth",
    responses((status = 200, description = "The key set.", body = Jwks)),
)]
pub async fn jwks_get(state: web::Data<AppState>) -> HttpResponse {
    public_json(&*state.oauth.keys.jwks())
}

pub async fn public_preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish()
}
