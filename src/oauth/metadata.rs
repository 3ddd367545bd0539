//! Authorization server metadata (RFC 8414).

use serde::Serialize;

use super::scope::SUPPORTED;

pub const AUTHORIZE_PATH: &str = "/o/authorize/";
pub const TOKEN_PATH: &str = "/o/token/";
pub const REVOCATION_PATH: &str = "/o/revoke_token/";
pub const INTROSPECTION_PATH: &str = "/o/introspect/";
pub const JWKS_PATH: &str = "/o/jwks/";

/// The server's metadata document (RFC 8414 §2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerMetadata {
    /// The issuer: `PUBLIC_URL` without a trailing slash; the `iss` of every token.
    #[schema(format = Uri)]
    pub issuer: String,
    #[schema(format = Uri)]
    pub authorization_endpoint: String,
    #[schema(format = Uri)]
    pub token_endpoint: String,
    #[schema(format = Uri)]
    pub revocation_endpoint: String,
    #[schema(format = Uri)]
    pub introspection_endpoint: String,
    /// Where the public keys that sign access tokens are published.
    #[schema(format = Uri)]
    pub jwks_uri: String,
    pub scopes_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Only `S256`: PKCE is required for every authorization request.
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// The authorization response carries `iss` (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
    /// The algorithm access tokens are signed with (`EdDSA` or `ES256`).
    pub access_token_signing_alg_values_supported: Vec<&'static str>,
}

pub fn document(issuer: &str, signing_algorithm: &'static str) -> ServerMetadata {
    ServerMetadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: format!("{issuer}{AUTHORIZE_PATH}"),
        token_endpoint: format!("{issuer}{TOKEN_PATH}"),
        revocation_endpoint: format!("{issuer}{REVOCATION_PATH}"),
        introspection_endpoint: format!("{issuer}{INTROSPECTION_PATH}"),
        jwks_uri: format!("{issuer}{JWKS_PATH}"),
        scopes_supported: SUPPORTED.to_vec(),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query"],
        grant_types_supported: vec!["authorization_code", "refresh_token", "client_credentials"],
        token_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        revocation_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
        ],
        code_challenge_methods_supported: vec!["S256"],
        authorization_response_iss_parameter_supported: true,
        access_token_signing_alg_values_supported: vec![signing_algorithm],
    }
}
