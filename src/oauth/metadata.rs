//! Authorization server metadata (RFC 8414).

use serde_json::{json, Value};

use super::scope::SUPPORTED;

pub const AUTHORIZE_PATH: &str = "/o/authorize/";
pub const TOKEN_PATH: &str = "/o/token/";
pub const REVOCATION_PATH: &str = "/o/revoke_token/";
pub const INTROSPECTION_PATH: &str = "/o/introspect/";
pub const JWKS_PATH: &str = "/o/jwks/";

pub fn document(issuer: &str, signing_algorithm: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "revocation_endpoint": format!("{issuer}{REVOCATION_PATH}"),
        "introspection_endpoint": format!("{issuer}{INTROSPECTION_PATH}"),
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "scopes_supported": SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "access_token_signing_alg_values_supported": [signing_algorithm],
    })
}
