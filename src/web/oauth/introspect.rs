//! `POST /o/introspect/` (RFC 7662), for confidential clients.

use actix_web::{web, HttpResponse};

use crate::oauth::introspection::{self, Introspection};
use crate::web::AppState;

use super::client_form::ClientForm;
use super::docs::{OAuthErrors, TokenParameterForm};
use super::error::{no_store_json, oauth_error_response};

/// Introspect a token
///
/// Whether a token is live (RFC 7662). For confidential clients; `active` is true only
/// for live tokens issued to clients of the caller's own business.
#[utoipa::path(
    post,
    path = "/o/introspect/",
    tag = "oauth",
    request_body(content = TokenParameterForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token's state.", body = Introspection, headers(
            ("Cache-Control" = String, description = "`no-store`"),
            ("Pragma" = String, description = "`no-cache`"),
        )),
        OAuthErrors,
    ),
    security((), ("clientSecretBasic" = [])),
)]
pub async fn introspect_post(state: web::Data<AppState>, form: ClientForm) -> HttpResponse {
    let result = async {
        let token = form.token()?;
        introspection::introspect(
            &state.db,
            state.oauth.clone(),
            form.presented,
            token,
            form.ip,
            state.now(),
        )
        .await
    }
    .await;
    match result {
        Ok(body) => no_store_json(&body),
        Err(e) => oauth_error_response(&e),
    }
}
