//! Public documents: RFC 8414 metadata and the JWKS. Any origin may read them.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::oauth::{keys, metadata};
use crate::web::AppState;

fn public_json(body: &serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(body)
}

pub async fn metadata_get(state: web::Data<AppState>) -> HttpResponse {
    let alg = keys::algorithm_name(state.settings.oauth.signing_algorithm);
    public_json(&metadata::document(&state.oauth.issuer, alg))
}

pub async fn jwks_get(state: web::Data<AppState>) -> HttpResponse {
    public_json(&state.oauth.keys.jwks())
}

pub async fn public_preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish()
}
