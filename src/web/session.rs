//! The browser session: an encrypted, signed cookie holding the token of a session kept
//! in the database (who is logged in), the CSRF token and flash messages.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::accounts::sessions::{LoginOrigin, SessionToken, SessionUser};
use crate::accounts::User;
use crate::crypto::{constant_time_eq, random_token};
use crate::events::Actor;
use crate::web::error::PageError;
use crate::web::AppState;

/// The session token (see [`accounts::sessions`]); the rest of the cookie holds the
/// CSRF token and flash messages, which need no server state.
const SESSION_TOKEN: &str = "sid";
const CSRF: &str = "csrf";
const FLASHES: &str = "flash";

/// Logs `user` in: a session in the database, whose token replaces whatever the cookie
/// held, with a fresh CSRF token (no fixation).
pub async fn log_in(
    session: &Session,
    req: &HttpRequest,
    state: &AppState,
    user: &User,
) -> Result<(), PageError> {
    let origin = LoginOrigin::new(
        client_ip(req, &state.settings),
        req.headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    let token = state
        .sessions
        .start(user, session_token(session), origin)
        .await?;
    session.renew();
    session.clear();
    session
        .insert(SESSION_TOKEN, token.expose())
        .and_then(|_| session.insert(CSRF, random_token(32)))
        .map_err(|e| PageError::internal(e))
}

/// Logs out: the session ends in the database (a copy of the cookie is worth nothing
/// from now on) and the cookie is emptied.
pub async fn log_out(
    session: &Session,
    req: &HttpRequest,
    state: &AppState,
    user: &User,
) -> Result<(), PageError> {
    if let Some(token) = session_token(session) {
        let ip = client_ip(req, &state.settings);
        state.sessions.end(&token, user, ip).await?;
    }
    session.purge();
    Ok(())
}

/// Whether the cookie holds a session token at all (not whether it is live).
pub fn has_session_token(session: &Session) -> bool {
    session_token(session).is_some()
}

fn session_token(session: &Session) -> Option<SessionToken> {
    let raw = session.get::<String>(SESSION_TOKEN).ok().flatten()?;
    SessionToken::parse(&raw)
}

/// The live session the cookie names, with its user. A cookie naming a session that
/// has ended is emptied, so it costs no further lookups.
pub async fn current_session(
    session: &Session,
    state: &AppState,
) -> Result<Option<SessionUser>, PageError> {
    let Some(token) = session_token(session) else {
        return Ok(None);
    };
    let found = state.sessions.resolve(&token).await?;
    if found.is_none() {
        session.purge();
    }
    Ok(found)
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

/// The client's IP (see [`crate::web::client_ip`]).
pub use crate::web::client_ip::client_ip;

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, PageError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| PageError::internal("application state missing"))
}

/// The logged-in session and its user. Requests without a live session are sent to the
/// login page, which brings them back afterwards.
pub struct CurrentSession(pub SessionUser);

impl FromRequest for CurrentSession {
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
            current_session(&session, &state)
                .await?
                .map(CurrentSession)
                .ok_or(PageError::LoginRequired { next })
        })
    }
}

/// The logged-in user (see [`CurrentSession`]).
pub struct CurrentUser(pub User);

impl FromRequest for CurrentUser {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let current = CurrentSession::from_request(req, payload);
        Box::pin(async move {
            let CurrentSession(found) = current.await?;
            Ok(CurrentUser(found.user))
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
    Actor::user(user.id, &user.email, client_ip(req, &state.settings))
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
            let csrf: CsrfField = serde_urlencoded::from_bytes(&body)
                .map_err(|_| PageError::BadRequest("the form could not be read".into()))?;
            verify_csrf(&session, &csrf.csrf_token)?;
            let form = serde_urlencoded::from_bytes(&body)
                .map_err(|e| PageError::BadRequest(format!("the form could not be read: {e}")))?;
            Ok(VerifiedForm(form))
        })
    }
}
