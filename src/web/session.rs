//! The browser session (an encrypted, signed cookie), who is logged in, CSRF tokens and
//! flash messages.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::accounts::{self, User};
use crate::crypto::{constant_time_eq, random_token};
use crate::db::types::UserId;
use crate::events::Actor;
use crate::web::error::PageError;
use crate::web::AppState;

const USER_ID: &str = "uid";
const AUTHENTICATED_AT: &str = "auth_at";
const CSRF: &str = "csrf";
const FLASHES: &str = "flash";

/// Largest form body a page accepts.
const FORM_LIMIT: usize = 64 * 1024;

/// Starts a logged-in session: a fresh session id and CSRF token (no fixation).
pub fn log_in(session: &Session, user: &User, now: i64) -> Result<(), PageError> {
    session.renew();
    session.clear();
    session
        .insert(USER_ID, user.id)
        .and_then(|_| session.insert(AUTHENTICATED_AT, now))
        .and_then(|_| session.insert(CSRF, random_token(32)))
        .map_err(|e| PageError::internal(e))
}

pub fn log_out(session: &Session) {
    session.purge();
}

/// The session's CSRF token, created on first use.
pub fn csrf_token(session: &Session) -> Result<String, PageError> {
    if let Some(token) = session
        .get::<String>(CSRF)
        .map_err(|e| PageError::internal(e))?
    {
        return Ok(token);
    }
    let token = random_token(32);
    session
        .insert(CSRF, &token)
        .map_err(|e| PageError::internal(e))?;
    Ok(token)
}

fn verify_csrf(session: &Session, submitted: &str) -> Result<(), PageError> {
    let expected = session
        .get::<String>(CSRF)
        .ok()
        .flatten()
        .ok_or(PageError::CsrfRejected)?;
    if constant_time_eq(expected.as_bytes(), submitted.as_bytes()) {
        Ok(())
    } else {
        Err(PageError::CsrfRejected)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub level: String,
    pub text: String,
}

pub fn flash(session: &Session, level: &str, text: impl Into<String>) {
    let mut flashes: Vec<Flash> = session.get(FLASHES).ok().flatten().unwrap_or_default();
    flashes.push(Flash {
        level: level.into(),
        text: text.into(),
    });
    // A flash that cannot be stored is not worth failing the request for.
    let _ = session.insert(FLASHES, flashes);
}

pub fn take_flashes(session: &Session) -> Vec<Flash> {
    session
        .remove_as::<Vec<Flash>>(FLASHES)
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// The client's IP: the socket peer, or the first `X-Forwarded-For` hop when the
/// operator said a trusted proxy sets it.
pub fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> Option<String> {
    if trust_proxy_headers {
        if let Some(ip) = req.connection_info().realip_remote_addr() {
            return Some(strip_port(ip));
        }
    }
    req.peer_addr().map(|addr| addr.ip().to_string())
}

fn strip_port(addr: &str) -> String {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(sock) => sock.ip().to_string(),
        Err(_) => addr.to_owned(),
    }
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, PageError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| PageError::internal("application state missing"))
}

/// The user the session says is logged in, unless that login is older than the
/// session lifetime (then the session ends). Whether the user still exists is for the
/// caller to check: [`CurrentUser`] does, and so does the authorization endpoint, in
/// the query that reads the client.
pub fn logged_in_user_id(session: &Session, state: &AppState) -> Option<UserId> {
    let user_id = session.get::<UserId>(USER_ID).ok().flatten()?;
    let authenticated_at = session
        .get::<i64>(AUTHENTICATED_AT)
        .ok()
        .flatten()
        .unwrap_or(0);
    if state.now() - authenticated_at > state.settings.session_ttl_seconds {
        session.purge();
        return None;
    }
    Some(user_id)
}

/// The logged-in user. Requests without a valid session are sent to the login page,
/// which brings them back afterwards.
pub struct CurrentUser(pub User);

impl FromRequest for CurrentUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let next = match req.uri().path_and_query() {
            Some(pq) if req.method() == actix_web::http::Method::GET => pq.to_string(),
            _ => "/".to_owned(),
        };
        let state = state(req);
        Box::pin(async move {
            let state = state?;
            let login_required = || PageError::LoginRequired { next: next.clone() };
            let user_id = logged_in_user_id(&session, &state).ok_or_else(login_required)?;
            match accounts::find_user(&state.db, user_id).await? {
                Some(user) => Ok(CurrentUser(user)),
                None => {
                    session.purge();
                    Err(login_required())
                }
            }
        })
    }
}

/// A logged-in admin; anyone else gets 403.
pub struct AdminUser(pub User);

impl FromRequest for AdminUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let current = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let CurrentUser(user) = current.await?;
            if user.is_admin {
                Ok(AdminUser(user))
            } else {
                Err(PageError::Forbidden)
            }
        })
    }
}

/// The body of a form whose only field is its CSRF token (logout, delete, …).
#[derive(Deserialize)]
pub struct EmptyForm {}

/// The logged-in user as the actor of an audit event, with the request's client IP.
pub fn user_actor(user: &User, req: &HttpRequest, state: &AppState) -> Actor {
    Actor::user(
        user.id,
        &user.email,
        client_ip(req, state.settings.trust_proxy_headers),
    )
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

/// A URL-encoded form whose `csrf_token` field matched the session's token. Every
/// state-changing page handler takes its input through this.
pub struct VerifiedForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for VerifiedForm<T> {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let body = web::Bytes::from_request(req, payload);
        let is_form = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        Box::pin(async move {
            if !is_form {
                return Err(PageError::BadRequest(
                    "send this form as application/x-www-form-urlencoded".into(),
                ));
            }
            let body = body
                .await
                .map_err(|e| PageError::BadRequest(e.to_string()))?;
            if body.len() > FORM_LIMIT {
                return Err(PageError::BadRequest("the form is too large".into()));
            }
            let csrf: CsrfField = serde_urlencoded::from_bytes(&body)
                .map_err(|_| PageError::BadRequest("the form could not be read".into()))?;
            verify_csrf(&session, &csrf.csrf_token)?;
            let form = serde_urlencoded::from_bytes(&body)
                .map_err(|e| PageError::BadRequest(format!("the form could not be read: {e}")))?;
            Ok(VerifiedForm(form))
        })
    }
}
