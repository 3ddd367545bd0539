//! The `/o/` part of the OpenAPI document: the request forms (described here; the
//! endpoints parse them with `oauth::params`, which refuses repeated parameters as
//! RFC 6749 §3.2 asks) and the RFC 6749 §5.2 error responses.

use serde::Serialize;
use utoipa::ToSchema;

use crate::web::openapi::{error_responses, response_groups, ErrorShape};

use super::error::ERROR_CODES;

error_responses! { ERROR_CODES;
    OAuthBadRequest = 400, ErrorShape::OAuth, "The request was refused (RFC 6749 §5.2).";
    OAuthUnauthorized = 401, ErrorShape::OAuth, "Client authentication failed.",
        "WWW-Authenticate": "`Basic realm=\"bridgekeeper\"`.";
    OAuthRequestTimeout = 408, ErrorShape::OAuth, "The body did not arrive in time.";
    OAuthPayloadTooLarge = 413, ErrorShape::OAuth, "The body is too large.";
    OAuthTooManyRequests = 429, ErrorShape::OAuth, "Too many failed client authentications, or more requests than the budget.",
        "Retry-After": "Seconds to wait before trying again.";
}

response_groups! {
    /// What every client-authenticated endpoint may answer.
    OAuthErrors = [
        400: OAuthBadRequest,
        401: OAuthUnauthorized,
        408: OAuthRequestTimeout,
        413: OAuthPayloadTooLarge,
        429: OAuthTooManyRequests
    ];
}

/// Which grant the token request asks for.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(dead_code, reason = "describes the form for the OpenAPI document only")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

/// A token request (RFC 6749 §4.1.3, §6, §4.4). Client authentication: HTTP Basic, or
/// `client_id` and `client_secret` here (`client_secret_post`); public clients send
/// `client_id` alone.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the form for the OpenAPI document only")]
pub struct TokenForm {
    grant_type: GrantType,
    /// `authorization_code`: the code from the authorization response (single-use,
    /// short-lived).
    #[schema(required = false)]
    code: String,
    /// `authorization_code`: the redirect URI of the authorization request, required
    /// when that request named one.
    #[schema(required = false)]
    redirect_uri: String,
    /// `authorization_code`: the PKCE verifier (43–128 unreserved characters) whose
    /// S256 hash was the request's `code_challenge`.
    #[schema(required = false, min_length = 43, max_length = 128)]
    code_verifier: String,
    /// `refresh_token`: the newest refresh token of the family (a rotated-out one revokes
    /// the whole family).
    #[schema(required = false)]
    refresh_token: String,
    /// Space-separated scopes: for `refresh_token`, at most those granted; for
    /// `client_credentials`, at most those registered.
    #[schema(required = false, example = "customers:read customers:write")]
    scope: String,
    /// The client's id: public clients and `client_secret_post`.
    #[schema(required = false)]
    client_id: String,
    /// `client_secret_post`: the confidential client's secret.
    #[schema(required = false)]
    client_secret: String,
}

/// A request naming one token: revocation (RFC 7009) or introspection (RFC 7662, for
/// confidential clients), with client authentication as at `/o/token/`.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the form for the OpenAPI document only")]
pub struct TokenParameterForm {
    /// An access or refresh token. Revoking a refresh token revokes its whole family.
    token: String,
    /// Ignored: the server recognises the token itself.
    #[schema(required = false)]
    token_type_hint: String,
    #[schema(required = false)]
    client_id: String,
    #[schema(required = false)]
    client_secret: String,
}

/// The answer to a revocation: always an empty object (RFC 7009 §2.2), also for an
/// unknown token.
#[derive(Serialize, ToSchema)]
pub struct Revoked {}
