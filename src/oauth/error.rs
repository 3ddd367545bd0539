//! The protocol's errors, with the codes RFC 6749 (§4.1.2.1, §5.2), RFC 7009 and
//! RFC 6750 define. The HTTP layer decides status codes and headers from these.

use crate::db::DbError;
use crate::error::{BoxError, Internal};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error("access_denied: {0}")]
    AccessDenied(String),
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(String),
    #[error("unsupported_token_type: {0}")]
    UnsupportedTokenType(String),
    /// Too many failed client authentications: answered with 429 and `Retry-After`.
    #[error("client authentication throttled for {retry_after_seconds} s")]
    ClientThrottled { retry_after_seconds: i64 },
    /// More requests than the sender's budget (the HTTP layer's rate limits): 429 with
    /// `Retry-After`. RFC 6749 names no code for it; `temporarily_unavailable` is the
    /// registered one that says "come back later".
    #[error("rate limited for {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: i64 },
    /// Our fault. The string is the cause for the log, never shown to the client.
    /// The server's own failure; its description says nothing of the cause, which the
    /// HTTP layer logs.
    #[error("server_error")]
    ServerError(#[source] Internal),
}

impl OAuthError {
    /// The RFC error code.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) | OAuthError::ClientThrottled { .. } => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::AccessDenied(_) => "access_denied",
            OAuthError::UnsupportedResponseType(_) => "unsupported_response_type",
            OAuthError::UnsupportedTokenType(_) => "unsupported_token_type",
            OAuthError::RateLimited { .. } => "temporarily_unavailable",
            OAuthError::ServerError(_) => "server_error",
        }
    }

    /// A human-readable `error_description` (never internals).
    pub fn description(&self) -> String {
        match self {
            OAuthError::InvalidRequest(d)
            | OAuthError::InvalidClient(d)
            | OAuthError::InvalidGrant(d)
            | OAuthError::UnauthorizedClient(d)
            | OAuthError::UnsupportedGrantType(d)
            | OAuthError::InvalidScope(d)
            | OAuthError::AccessDenied(d)
            | OAuthError::UnsupportedResponseType(d)
            | OAuthError::UnsupportedTokenType(d) => d.clone(),
            OAuthError::ClientThrottled {
                retry_after_seconds,
            } => format!(
                "too many failed client authentications; retry in {retry_after_seconds} seconds"
            ),
            OAuthError::RateLimited {
                retry_after_seconds,
            } => format!("too many requests; retry in {retry_after_seconds} seconds"),
            OAuthError::ServerError(_) => "the server could not finish this request".into(),
        }
    }

    #[track_caller]
    pub fn server_error(cause: impl Into<BoxError>) -> Self {
        OAuthError::ServerError(Internal::new(cause))
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        OAuthError::InvalidRequest(d.into())
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        OAuthError::InvalidGrant(d.into())
    }
}

impl From<DbError> for OAuthError {
    #[track_caller]
    fn from(e: DbError) -> Self {
        OAuthError::server_error(e)
    }
}

impl From<diesel::result::Error> for OAuthError {
    #[track_caller]
    fn from(e: diesel::result::Error) -> Self {
        OAuthError::server_error(e)
    }
}
