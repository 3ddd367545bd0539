//! JWT access tokens (RFC 9068): `typ: at+jwt`, a `kid`, and the claims iss, sub, aud,
//! client_id, scope, jti, iat, exp. Expiry is checked against our clock, not the
//! wall clock, so tests can move time.

use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};

use super::error::OAuthError;
use super::keys::KeyRing;

pub const JWT_TYPE: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// The audience of every access token: our own resource API.
pub fn audience(issuer: &str) -> String {
    format!("{issuer}/api/")
}

pub fn sign(keys: &KeyRing, claims: &Claims) -> Result<String, OAuthError> {
    let signing = keys
        .signing_key()
        .ok_or_else(|| OAuthError::ServerError("no signing key loaded".into()))?;
    let mut header = Header::new(signing.algorithm);
    header.typ = Some(JWT_TYPE.to_owned());
    header.kid = Some(signing.kid.clone());
    jsonwebtoken::encode(&header, claims, &signing.key)
        .map_err(|e| OAuthError::ServerError(format!("signing failed: {e}")))
}

/// Why a presented token is not acceptable (worded for `error_description`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejected {
    #[error("the access token is malformed or its signature is invalid")]
    Invalid,
    #[error("the access token was signed by an unknown key")]
    UnknownKey(String),
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not meant for this API")]
    WrongAudience,
    #[error("the access token has been revoked")]
    Revoked,
}

/// The `kid` of a token's header, without verifying anything.
pub fn kid_of(token: &str) -> Result<String, TokenRejected> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejected::Invalid)?;
    if header.typ.as_deref() != Some(JWT_TYPE) {
        return Err(TokenRejected::Invalid);
    }
    header.kid.ok_or(TokenRejected::Invalid)
}

/// Verifies signature, type, issuer, audience and expiry.
pub fn verify(
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    now: i64,
) -> Result<Claims, TokenRejected> {
    let kid = kid_of(token)?;
    let (algorithm, key) = keys
        .verifying_key(&kid)
        .ok_or(TokenRejected::UnknownKey(kid))?;
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_issuer(&[issuer]);
    let data = jsonwebtoken::decode::<Claims>(token, key.key(), &validation)
        .map_err(|_| TokenRejected::Invalid)?;
    let claims = data.claims;
    if claims.aud != audience(issuer) {
        return Err(TokenRejected::WrongAudience);
    }
    if claims.exp <= now {
        return Err(TokenRejected::Expired);
    }
    Ok(claims)
}
