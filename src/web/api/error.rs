use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::db::DbError;

const REALM: &str = "bridgekeeper";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials at all: 401 with a bare `Bearer` challenge.
    #[error("this endpoint needs an access token: send Authorization: Bearer <token>")]
    MissingToken,
    /// A malformed request about the token (e.g. sent in the URL): 401 invalid_request.
    #[error("{0}")]
    InvalidRequest(String),
    /// Bad, expired or revoked token: 401 invalid_token.
    #[error("{0}")]
    InvalidToken(String),
    /// Valid token without the scope: 403 insufficient_scope.
    #[error("this request needs the scope {0}")]
    InsufficientScope(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// A malformed request body or parameter: 400 naming the field.
    #[error("{field}: {message}")]
    BadRequest {
        field: &'static str,
        message: String,
    },
    /// A domain refusal with its own status and stable code (409, 404, 410, 502, 504).
    #[error("{message}")]
    Domain {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// A dependency is down: 503 with `Retry-After`.
    #[error("{message}")]
    Unavailable {
        code: &'static str,
        message: String,
        retry_after_seconds: i64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::MissingToken => "unauthorized",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::InsufficientScope(_) => "insufficient_scope",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest { .. } => "invalid_request",
            ApiError::Domain { code, .. } | ApiError::Unavailable { code, .. } => code,
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn challenge(&self) -> Option<String> {
        match self {
            ApiError::MissingToken => Some(format!("Bearer realm=\"{REALM}\"")),
            ApiError::InvalidRequest(m) | ApiError::InvalidToken(m) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
                self.code(),
                m.replace(['"', '\\'], "'")
            )),
            ApiError::InsufficientScope(scope) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MissingToken | ApiError::InvalidRequest(_) | ApiError::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Domain { status, .. } => *status,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "API request failed");
                "the server could not finish this request".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.challenge() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        match self {
            ApiError::Unavailable {
                retry_after_seconds,
                ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            ApiError::BadRequest { field, .. } => {
                return response
                    .json(json!({ "error": self.code(), "message": message, "field": field }));
            }
            _ => {}
        }
        response.json(json!({ "error": self.code(), "message": message }))
    }
}
