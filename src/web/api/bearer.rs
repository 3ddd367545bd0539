//! The bearer-token extractor for `/api/` (RFC 6750): the token only in the
//! `Authorization` header (never the URL query, R36), checked for signature, issuer,
//! audience (R37), expiry and revocation (its grant must still be in force).

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::oauth::params::Params;
use crate::oauth::resource::{self, AccessGrant, BearerError};
use crate::web::AppState;

use super::error::ApiError;

pub struct BearerAuth(pub AccessGrant);

impl BearerAuth {
    /// 403 `insufficient_scope` unless the token carries `scope`.
    pub fn require_scope(&self, scope: &'static str) -> Result<(), ApiError> {
        if self.0.scope.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(scope))
        }
    }
}

fn token_in_query(req: &HttpRequest) -> bool {
    Params::parse(req.query_string().as_bytes())
        .map(|p| p.pairs().iter().any(|(k, _)| k == "access_token"))
        .unwrap_or_else(|_| req.query_string().contains("access_token"))
}

impl FromRequest for BearerAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let in_query = token_in_query(req);
        let header_value = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_owned));
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
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
                Ok(grant) => Ok(BearerAuth(grant)),
                Err(BearerError::Rejected(why)) => Err(ApiError::InvalidToken(why.to_string())),
                Err(BearerError::Db(e)) => Err(e.into()),
            }
        })
    }
}
