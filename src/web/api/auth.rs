//! Who calls `/api/`: a program with a bearer token (RFC 6750), or a person browsing the
//! API in HTML with the logged-in session (see [`super::browsable`], the only place that
//! lets a session through). The token goes only in the `Authorization` header (never the
//! URL query, R36) and is checked for signature, issuer, audience (R37), expiry and
//! revocation (its grant must still be in force).

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::accounts::User;
use crate::db::types::UserId;
use crate::events::Actor;
use crate::oauth::client::user_subject;
use crate::oauth::params::Params;
use crate::oauth::resource::{self, AccessGrant, BearerError};
use crate::oauth::scope::{ScopeSet, SUPPORTED};
use crate::web::session::{client_ip, user_actor};
use crate::web::AppState;

use super::error::ApiError;

/// The business an API request acts for, with the scopes it may use.
pub struct Caller {
    pub business_user_id: UserId,
    pub scope: ScopeSet,
    pub credential: Credential,
}

pub enum Credential {
    Token(Box<AccessGrant>),
    /// The browsable API: a logged-in person acting as their own business.
    Session(User),
}

/// Put in the request's extensions by the browsable API once it has checked the
/// session (and, for a change, the CSRF token). Nothing else creates it.
#[derive(Clone)]
pub(super) struct SessionUser(pub User);

impl Caller {
    fn token(grant: AccessGrant) -> Self {
        Self {
            business_user_id: grant.business_user_id,
            scope: grant.scope.clone(),
            credential: Credential::Token(Box::new(grant)),
        }
    }

    /// A session acts as its business with every scope: the same business a token
    /// issued by that business would name, and what every page of the browsable API
    /// needs.
    fn session(user: User) -> Self {
        Self {
            business_user_id: user.id,
            scope: ScopeSet::from_stored(&SUPPORTED.join(" ")),
            credential: Credential::Session(user),
        }
    }

    /// 403 `insufficient_scope` unless the caller may use `scope`.
    pub fn require_scope(&self, scope: &'static str) -> Result<(), ApiError> {
        if self.scope.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(scope))
        }
    }

    /// The OAuth client the token was issued to (`None` for a session).
    pub fn client_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Token(grant) => Some(&grant.client_id),
            Credential::Session(_) => None,
        }
    }

    /// The `sub` of the token, or the one a token of this user would carry.
    pub fn subject(&self) -> String {
        match &self.credential {
            Credential::Token(grant) => grant.claims.sub.clone(),
            Credential::Session(user) => user_subject(user.id),
        }
    }

    /// Who did it, for the audit log.
    pub fn actor(&self, req: &HttpRequest, state: &AppState) -> Actor {
        match &self.credential {
            Credential::Token(grant) => Actor {
                user_id: Some(grant.business_user_id),
                label: Some(format!("client {}", grant.client_id)),
                ip: client_ip(req, &state.settings),
            },
            Credential::Session(user) => user_actor(user, req, state),
        }
    }
}

fn token_in_query(req: &HttpRequest) -> bool {
    Params::parse(req.query_string().as_bytes())
        .map(|p| p.pairs().iter().any(|(k, _)| k == "access_token"))
        .unwrap_or_else(|_| req.query_string().contains("access_token"))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session_user = req.extensions().get::<SessionUser>().cloned();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let in_query = token_in_query(req);
        let header_value = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_owned));
        Box::pin(async move {
            if let Some(SessionUser(user)) = session_user {
                return Ok(Caller::session(user));
            }
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            if in_query {
                return Err(ApiError::InvalidRequest(
                    "access tokens are not accepted in the URL; send Authorization: Bearer <token>"
                        .into(),
                ));
            }
            let value = match header_value {
                None => return Err(ApiError::MissingToken),
                Some(Err(_)) => {
                    return Err(ApiError::InvalidRequest(
                        "malformed Authorization header".into(),
                    ))
                }
                Some(Ok(value)) => value,
            };
            let token = match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                _ => {
                    return Err(ApiError::InvalidRequest(
                        "use the Bearer scheme: Authorization: Bearer <token>".into(),
                    ))
                }
            };
            match resource::authenticate(&state.db, &state.oauth, token, state.now()).await {
                Ok(grant) => Ok(Caller::token(grant)),
                Err(BearerError::Rejected(why)) => Err(ApiError::InvalidToken(why.to_string())),
                Err(BearerError::Db(e)) => Err(e.into()),
            }
        })
    }
}
