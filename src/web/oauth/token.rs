//! `POST /o/token/`.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::issue::TokenResponse;
use crate::oauth::{token, token_request};
use crate::web::AppState;

use super::client_form::{ClientForm, RejectedForm};
use super::cors;
use super::docs::{OAuthErrors, TokenForm};
use super::error::{no_store_json, oauth_error_response};

/// Get tokens
///
/// Exchanges an authorization code (with its PKCE verifier), a refresh token (rotated:
/// the answer carries its successor) or client credentials for an access token.
#[utoipa::path(
    post,
    path = "/o/token/",
    tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The tokens (RFC 6749 §5.1).", body = TokenResponse, headers(
            ("Cache-Control" = String, description = "`no-store`"),
            ("Pragma" = String, description = "`no-cache`"),
        )),
        OAuthErrors,
    ),
    security((), ("clientSecretBasic" = [])),
)]
pub async fn token_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: Result<ClientForm, RejectedForm>,
) -> HttpResponse {
    let (result, client_id) = match form {
        Err(rejected) => (Err(rejected.error), rejected.client_id),
        Ok(form) => {
            let client_id = form.client_id().map(str::to_owned);
            let result = async {
                let grant = token_request::grant_request(&form.params)?;
                let now = state.now();
                token::exchange(
                    &state.db,
                    state.oauth.clone(),
                    form.presented,
                    grant,
                    form.ip,
                    now,
                )
                .await
            }
            .await;
            (result, client_id)
        }
    };
    let mut response = match &result {
        Ok(tokens) => no_store_json(tokens),
        Err(e) => oauth_error_response(e),
    };
    cors::for_client(&state, &req, client_id.as_deref(), &mut response).await;
    response
}
