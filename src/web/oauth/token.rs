//! `POST /o/token/`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::oauth::issue::TokenResponse;
use crate::oauth::params::Params;
use crate::oauth::token_request::{self, GrantRequest, PresentedClient};
use crate::oauth::{token, OAuthError};
use crate::web::session::client_ip;
use crate::web::AppState;

use super::cors;
use super::docs::{OAuthErrors, TokenForm};
use super::error::{no_store_json, oauth_error_response};

/// The form body, and the `Authorization` header if any.
pub(super) fn read_form(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    Params::parse(body)
}

pub(super) fn authorization(req: &HttpRequest) -> Result<Option<&str>, OAuthError> {
    req.headers()
        .get(header::AUTHORIZATION)
        .map(|v| {
            v.to_str()
                .map_err(|_| OAuthError::InvalidClient("malformed Authorization header".into()))
        })
        .transpose()
}

fn parse(req: &HttpRequest, body: &[u8]) -> Result<(PresentedClient, GrantRequest), OAuthError> {
    let form = read_form(req, body)?;
    let presented = token_request::presented_client(authorization(req)?, &form)?;
    let grant = token_request::grant_request(&form)?;
    Ok((presented, grant))
}

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
    body: web::Bytes,
) -> HttpResponse {
    let (result, client, client_id) = match parse(&req, &body) {
        Err(e) => {
            let client_id = Params::parse(&body)
                .ok()
                .and_then(|f| f.get("client_id").ok().flatten().map(str::to_owned));
            (Err(e), None, client_id)
        }
        Ok((presented, grant)) => {
            let client_id = presented.client_id().map(str::to_owned);
            let ip = client_ip(&req, state.settings.trust_proxy_headers);
            let exchange = token::exchange(
                &state.db,
                state.oauth.clone(),
                presented,
                grant,
                ip,
                state.now(),
            )
            .await;
            (exchange.result, exchange.client, client_id)
        }
    };
    let mut response = match &result {
        Ok(tokens) => no_store_json(tokens),
        Err(e) => oauth_error_response(e),
    };
    cors::for_client(&state, &req, client.as_ref(), client_id, &mut response).await;
    response
}
