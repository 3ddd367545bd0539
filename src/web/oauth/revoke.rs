//! `POST /o/revoke_token/` (RFC 7009).

use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::revocation;
use crate::web::AppState;

use super::client_form::{ClientForm, RejectedForm};
use super::cors;
use super::docs::{OAuthErrors, Revoked, TokenParameterForm};
use super::error::{no_store_json, oauth_error_response};

/// Revoke a token
///
/// Revokes an access token, or a refresh token with its whole family (RFC 7009). A token
/// that is unknown or belongs to another client is answered 200 and left alone.
#[utoipa::path(
    post,
    path = "/o/revoke_token/",
    tag = "oauth",
    request_body(content = TokenParameterForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke.", body = Revoked, headers(
            ("Cache-Control" = String, description = "`no-store`"),
            ("Pragma" = String, description = "`no-cache`"),
        )),
        OAuthErrors,
    ),
    security((), ("clientSecretBasic" = [])),
)]
pub async fn revoke_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: Result<ClientForm, RejectedForm>,
) -> HttpResponse {
    let (result, client_id) = match form {
        Err(rejected) => (Err(rejected.error), rejected.client_id),
        Ok(form) => {
            let client_id = form.client_id().map(str::to_owned);
            let result = async {
                let token = form.token()?;
                let now = state.now();
                revocation::revoke(
                    &state.db,
                    state.oauth.clone(),
                    form.presented,
                    token,
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
        Ok(()) => no_store_json(&Revoked {}),
        Err(e) => oauth_error_response(e),
    };
    cors::for_client(&state, &req, client_id.as_deref(), &mut response).await;
    response
}
