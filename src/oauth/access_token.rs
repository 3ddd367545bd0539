//! JWT access tokens (RFC 9068): `typ: at+jwt`, a `kid`, and the claims iss, sub, aud,
//! client_id, scope, jti, iat, exp (and `sid` for a user's token). Expiry is checked against our clock, not the
//! wall clock, so tests can move time.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::sha256;
use crate::error::Context;

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
    /// The session the token belongs to: the rotation family of the code exchange
    /// and refreshes that issued it (a registered JWT claim, "Session ID"). A token
    /// is live only while its family and grant are. Client-credentials tokens have
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// The audience of every access token: our own resource API.
pub fn audience(issuer: &str) -> String {
    format!("{issuer}/api/")
}

/// The compact JWS (RFC 7515 §7.1) of `claims`, signed with the current key.
pub fn sign(keys: &KeyRing, claims: &Claims) -> Result<String, OAuthError> {
    let signing = keys
        .signing_key()
        .ok_or_else(|| OAuthError::server_error("no signing key loaded"))?;
    let mut header = Header::new(signing.algorithm);
    header.typ = Some(JWT_TYPE.to_owned());
    header.kid = Some(signing.kid.clone());
    let mut token = base64url_json(&header)?;
    token.push('.');
    token.push_str(&base64url_json(claims)?);
    let signature = signing
        .sign(token.as_bytes())
        .map_err(|e| OAuthError::server_error(e))?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

fn base64url_json(value: &impl Serialize) -> Result<String, OAuthError> {
    serde_json::to_vec(value)
        .map(|json| URL_SAFE_NO_PAD.encode(json))
        .map_err(|e| OAuthError::server_error(Context::new("cannot encode the token", e)))
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

/// Tokens whose signature this instance has already checked, by the SHA-256 of the
/// whole token. A client presents the same access token on every call until it
/// expires; a signature check (an elliptic-curve verification) is then paid once, not
/// per request. Only successful verifications are remembered, and expiry is still
/// checked against the clock on every hit. This is a memo of a pure function, not a
/// decision: revocation is checked in the database on every request regardless.
pub struct VerifiedTokens {
    cache: quick_cache::sync::Cache<[u8; 32], Arc<Claims>>,
}

impl VerifiedTokens {
    pub fn new(capacity: usize) -> Self {
        Self {
            cache: quick_cache::sync::Cache::new(capacity),
        }
    }

    /// Like [`verify`], remembering success.
    pub fn verify(
        &self,
        keys: &KeyRing,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<Arc<Claims>, TokenRejected> {
        let digest = sha256(token.as_bytes());
        let cached = self.cache.get(&digest);
        metrics::counter!(
            "bridgekeeper_cache_lookups_total",
            "cache" => "verified_tokens",
            "outcome" => if cached.is_some() { "hit" } else { "miss" },
        )
        .increment(1);
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(verify(keys, token, issuer, now)?);
                self.cache.insert(digest, claims.clone());
                claims
            }
        };
        if claims.exp <= now {
            return Err(TokenRejected::Expired);
        }
        Ok(claims)
    }
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
