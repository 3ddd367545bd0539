//! `GET /o/authorize/` and the consent form's `POST`. Client and redirect URI are
//! checked first and a failure there is an error page (never a redirect, R4); then the
//! user must be logged in (R5); only then are other errors redirected to the client,
//! always with `state` and `iss` (R11, R12).

use crate::web::session::{client_ip, current_session, user_actor, CurrentUser, VerifiedForm};
use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::oauth::authorize_request::{self, AuthorizeRequest, RedirectTarget};
use crate::oauth::client::Client;
use crate::oauth::consent::AuthorizeOutcome;
use crate::oauth::params::Params;
use crate::oauth::{clients, consent, scope, OAuthError};
use crate::web::error::PageError;
use crate::web::pages::Layout;
use crate::web::AppState;

#[derive(Template)]
#[template(path = "oauth_consent.html")]
struct ConsentPage {
    layout: Layout,
    client_name: String,
    client_id: String,
    scopes: Vec<(String, &'static str)>,
    redirect_host: String,
    /// The checked request, carried to the POST as hidden fields.
    fields: Vec<(&'static str, String)>,
}

/// Client and redirect URI, or the error page.
async fn trusted_target(
    state: &AppState,
    params: &Params,
) -> Result<(Client, RedirectTarget), PageError> {
    let client_id = authorize_request::client_id(params).map_err(PageError::BadRequest)?;
    let client = clients::find(&state.db, client_id)
        .await
        .map_err(|e| PageError::internal(e))?
        .ok_or_else(|| {
            PageError::BadRequest(
                "This application is not registered here (unknown client_id). Tell the application's developer."
                    .into(),
            )
        })?;
    let target =
        authorize_request::redirect_target(params, &client).map_err(PageError::BadRequest)?;
    Ok((client, target))
}

fn redirect(status_see_other: bool, location: &str) -> HttpResponse {
    let mut response = if status_see_other {
        HttpResponse::SeeOther()
    } else {
        HttpResponse::Found()
    };
    response
        .insert_header((header::LOCATION, location))
        .finish()
}

fn error_redirect(
    state: &AppState,
    target: &RedirectTarget,
    error: &OAuthError,
    params: &Params,
    see_other: bool,
) -> HttpResponse {
    let state_param = authorize_request::state(params);
    redirect(
        see_other,
        &authorize_request::error_uri(
            &target.uri,
            error,
            state_param.as_deref(),
            &state.oauth.issuer,
        ),
    )
}

fn code_redirect(
    state: &AppState,
    request: &AuthorizeRequest,
    code: &str,
    see_other: bool,
) -> HttpResponse {
    redirect(
        see_other,
        &authorize_request::response_uri(
            &request.redirect.uri,
            &[("code", code)],
            request.state.as_deref(),
            &state.oauth.issuer,
        ),
    )
}

pub async fn authorize_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let params = Params::parse(req.query_string().as_bytes())
        .map_err(|e| PageError::BadRequest(e.description()))?;
    let state_param = authorize_request::state(&params);
    let session_user = current_session(&session, &state)
        .await?
        .map(|found| found.user.id);
    let ip = client_ip(&req, &state.settings);
    let outcome = consent::authorize(
        &state.db,
        state.oauth.clone(),
        params,
        session_user,
        ip,
        state.now(),
    )
    .await
    .map_err(|e| PageError::internal(e))?;
    let (client, request, user) = match outcome {
        AuthorizeOutcome::ErrorPage(message) => return Err(PageError::BadRequest(message)),
        AuthorizeOutcome::LoginRequired => {
            if session_user.is_some() {
                // The session names a user who no longer exists.
                session.purge();
            }
            let next = req
                .uri()
                .path_and_query()
                .map(|pq| pq.to_string())
                .unwrap_or_else(|| "/o/authorize/".into());
            return Err(PageError::LoginRequired { next });
        }
        AuthorizeOutcome::ErrorRedirect { target, error } => {
            return Ok(redirect(
                false,
                &authorize_request::error_uri(
                    &target.uri,
                    &error,
                    state_param.as_deref(),
                    &state.oauth.issuer,
                ),
            ))
        }
        AuthorizeOutcome::Code { request, code } => {
            return Ok(code_redirect(&state, &request, &code, false))
        }
        AuthorizeOutcome::AskConsent {
            client,
            request,
            user,
        } => (client, request, user),
    };
    let mut fields = vec![
        ("response_type", "code".to_owned()),
        ("client_id", client.client_id.clone()),
        ("scope", request.scope.to_string()),
        ("code_challenge", request.code_challenge.clone()),
        ("code_challenge_method", "S256".to_owned()),
    ];
    if request.redirect.sent {
        fields.push(("redirect_uri", request.redirect.uri.clone()));
    }
    if let Some(s) = &request.state {
        fields.push(("state", s.clone()));
    }
    let redirect_host = url::Url::parse(&request.redirect.uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let page = ConsentPage {
        layout: Layout::new(&state, &session, Some(*user), "")?,
        client_name: client.name.clone(),
        client_id: client.client_id.clone(),
        scopes: request
            .scope
            .iter()
            .map(|s| (s.to_owned(), scope::describe(s)))
            .collect(),
        redirect_host,
        fields,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// The consent form's answer: 303 to the client either way (R6).
pub async fn authorize_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    CurrentUser(user): CurrentUser,
    VerifiedForm(pairs): VerifiedForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let approve = pairs.iter().any(|(k, v)| k == "decision" && v == "approve");
    let params = Params::from_pairs(
        pairs
            .into_iter()
            .filter(|(k, _)| k != "csrf_token" && k != "decision")
            .collect(),
    );
    let (client, target) = trusted_target(&state, &params).await?;
    let request = match authorize_request::validate(&params, &client, target.clone()) {
        Ok(request) => request,
        Err(e) => return Ok(error_redirect(&state, &target, &e, &params, true)),
    };
    let actor = user_actor(&user, &req, &state);
    if !approve {
        consent::deny(&state.db, &client, &request.scope, actor, state.now())
            .await
            .map_err(|e| PageError::internal(e))?;
        let denied = OAuthError::AccessDenied("the user declined the request".into());
        return Ok(error_redirect(&state, &target, &denied, &params, true));
    }
    let code = consent::approve(
        &state.db,
        state.oauth.clone(),
        client,
        user.id,
        request.clone(),
        actor,
        state.now(),
    )
    .await
    .map_err(|e| PageError::internal(e))?;
    Ok(code_redirect(&state, &request, &code, true))
}
