//! The request of the endpoints where a client authenticates (`/o/token/`,
//! `/o/introspect/`, `/o/revoke_token/`): an `application/x-www-form-urlencoded` body,
//! parsed once, and the client it presents (HTTP Basic or `client_id`/`client_secret`
//! in the body, RFC 6749 §2.3.1).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::web::rate_limits::{Budget, RateLimits};
use crate::web::session::client_ip;
use crate::web::{media_type, AppState};

use crate::oauth::params::Params;
use crate::oauth::token_request::{self, PresentedClient};
use crate::oauth::OAuthError;

use super::error::{oauth_error_response, status};

/// The parsed form, the client it presents, and where the request came from (no
/// `Debug`: it holds the secret).
pub struct ClientForm {
    pub presented: PresentedClient,
    pub params: Params,
    /// The caller's address (for the throttle and the audit log).
    pub ip: Option<String>,
}

/// A form that could not be read, answered in RFC 6749 §5.2 JSON. Carries the
/// `client_id` the body named, when it could be parsed, so that a browser client still
/// gets its CORS headers on the error.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct RejectedForm {
    pub error: OAuthError,
    pub client_id: Option<String>,
}

impl ResponseError for RejectedForm {
    fn status_code(&self) -> actix_web::http::StatusCode {
        status(&self.error)
    }

    fn error_response(&self) -> HttpResponse {
        oauth_error_response(&self.error)
    }
}

impl From<OAuthError> for RejectedForm {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            client_id: None,
        }
    }
}

fn is_form(req: &HttpRequest) -> bool {
    media_type(req).as_deref() == Some("application/x-www-form-urlencoded")
}

fn authorization(req: &HttpRequest) -> Result<Option<&str>, OAuthError> {
    req.headers()
        .get(header::AUTHORIZATION)
        .map(|v| {
            v.to_str()
                .map_err(|_| OAuthError::InvalidClient("malformed Authorization header".into()))
        })
        .transpose()
}

fn read(req: &HttpRequest, body: &[u8]) -> Result<ClientForm, RejectedForm> {
    let state = req.app_data::<web::Data<AppState>>();
    let ip = match state {
        Some(state) => client_ip(req, &state.settings),
        None => req
            .peer_addr()
            .map(|addr| addr.ip().to_canonical().to_string()),
    };
    let parsed = parse(req, body);
    // Every request spends from its budgets, well-formed or not; a refusal names the
    // client when it can, so that a browser client can read it (CORS).
    if let Some(state) = state {
        let client_id = match &parsed {
            Ok((_, presented)) => presented.client_id(),
            Err(rejected) => rejected.client_id.as_deref(),
        };
        spend_budgets(&state.rate_limits, ip.as_deref(), client_id).map_err(|error| {
            RejectedForm {
                error,
                client_id: client_id.map(str::to_owned),
            }
        })?;
    }
    let (params, presented) = parsed?;
    Ok(ClientForm {
        presented,
        params,
        ip,
    })
}

fn parse(req: &HttpRequest, body: &[u8]) -> Result<(Params, PresentedClient), RejectedForm> {
    if !is_form(req) {
        return Err(OAuthError::invalid_request(
            "send the parameters as application/x-www-form-urlencoded",
        )
        .into());
    }
    let params = Params::parse(body)?;
    match authorization(req).and_then(|basic| token_request::presented_client(basic, &params)) {
        Ok(presented) => Ok((params, presented)),
        Err(error) => Err(RejectedForm {
            error,
            client_id: params.get("client_id").ok().flatten().map(str::to_owned),
        }),
    }
}

fn spend_budgets(
    limits: &RateLimits,
    ip: Option<&str>,
    client_id: Option<&str>,
) -> Result<(), OAuthError> {
    let refused = |retry_after_seconds| OAuthError::RateLimited {
        retry_after_seconds,
    };
    if let Some(ip) = ip {
        limits.check(Budget::OAuthPerIp, ip).map_err(refused)?;
    }
    if let Some(client_id) = client_id {
        limits
            .check(Budget::OAuthPerClient, client_id)
            .map_err(refused)?;
    }
    Ok(())
}

impl FromRequest for ClientForm {
    type Error = RejectedForm;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body.await.map_err(|_| {
                RejectedForm::from(OAuthError::invalid_request("the body could not be read"))
            })?;
            read(&req, &body)
        })
    }
}

impl ClientForm {
    /// The `client_id` the request presented.
    pub fn client_id(&self) -> Option<&str> {
        self.presented.client_id()
    }

    /// The `token` parameter of revocation and introspection (RFC 7009, RFC 7662).
    pub fn token(&self) -> Result<String, OAuthError> {
        Ok(self.params.require("token")?.to_owned())
    }
}
