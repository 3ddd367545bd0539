//! `POST /o/revoke_token/` (RFC 7009).

use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::{revocation, token_request};
use crate::web::session::client_ip;
use crate::web::AppState;

use super::cors;
use super::docs::{OAuthErrors, Revoked, TokenParameterForm};
use super::error::{no_store_json, oauth_error_response};
use super::token::{authorization, read_form};

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
    body: web::Bytes,
) -> HttpResponse {
    let parsed = read_form(&req, &body).and_then(|form| {
        let presented = token_request::presented_client(authorization(&req)?, &form)?;
        let token = form.require("token")?.to_owned();
        Ok((presented, token))
    });
    let (result, client, client_id) = match parsed {
        Err(e) => (Err(e), None, None),
        Ok((presented, token)) => {
            let client_id = presented.client_id().map(str::to_owned);
            let ip = client_ip(&req, state.settings.trust_proxy_headers);
            let (result, client) = revocation::revoke(
                &state.db,
                state.oauth.clone(),
                presented,
                token,
                ip,
                state.now(),
            )
            .await;
            (result, client, client_id)
        }
    };
    let mut response = match &result {
        Ok(()) => no_store_json(&Revoked {}),
        Err(e) => oauth_error_response(e),
    };
    cors::for_client(&state, &req, client.as_ref(), client_id, &mut response).await;
    response
}
