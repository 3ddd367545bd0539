//! Minting tokens: a JWT access token (nothing stored: it names its family, which is
//! checked on every use, and is signed after the transaction), and a rotation family
//! with, when the client gets them, its first refresh token; and revoking a family.

use serde::Serialize;

use crate::clock::unix_micros;
use crate::crypto::{random_token, time_ordered_id};
use crate::db::oauth_authorization_codes::ClaimedCode;
use crate::db::oauth_token_families::{self, NewOAuthTokenFamily};
use crate::db::DbConnection;

use super::access_token::{self, Claims};
use super::client::{client_subject, user_subject, Client};
use super::error::OAuthError;
use super::keys::KeyRing;
use super::refresh_token;
use super::scope::ScopeSet;
use super::OAuthContext;
use crate::db::types::UserId;

/// The successful token response (RFC 6749 §5.1). It also derives the OpenAPI
/// document's schema, so the document cannot drift from what is sent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// An RFC 9068 JWT for `/api/`: send it as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// A new refresh token, for clients registered for them (never for client
    /// credentials). Every use rotates it: keep only the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scopes, space-separated.
    #[schema(example = "customers:read customers:write")]
    pub scope: String,
}

/// What a grant issued inside its transaction. The access token is signed afterwards:
/// signing needs no database, so it does not lengthen the transaction.
#[derive(Debug)]
pub struct Issued {
    pub claims: Claims,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
}

impl Issued {
    /// The token response, with the access token signed by the current key.
    pub fn sign(self, keys: &KeyRing) -> Result<TokenResponse, OAuthError> {
        Ok(TokenResponse {
            access_token: access_token::sign(keys, &self.claims)?,
            token_type: "Bearer",
            expires_in: self.expires_in,
            refresh_token: self.refresh_token,
            scope: self.claims.scope,
        })
    }
}

/// Whom and what a token is for.
pub struct Subject<'a> {
    pub client: &'a Client,
    /// `None` for client-credentials tokens.
    pub user_id: Option<UserId>,
    /// The rotation family the token belongs to (code and refresh grants).
    pub family_id: Option<&'a str>,
}

/// The claims of a new access token, to be signed after the commit.
pub fn access_token(
    ctx: &OAuthContext,
    subject: &Subject<'_>,
    scope: &ScopeSet,
    now: i64,
) -> Claims {
    Claims {
        iss: ctx.issuer.clone(),
        sub: match subject.user_id {
            Some(user_id) => user_subject(user_id),
            None => client_subject(&subject.client.client_id),
        },
        aud: access_token::audience(&ctx.issuer),
        client_id: subject.client.client_id.clone(),
        scope: scope.to_string(),
        jti: time_ordered_id(unix_micros()),
        iat: now,
        exp: now + ctx.settings.access_token_ttl_seconds,
        sid: subject.family_id.map(str::to_owned),
    }
}

/// A new rotation family for a redeemed code, and its first refresh token if the
/// client gets them. Without refresh tokens the family lives as long as the access
/// token, so that a replay of the code can still revoke it.
pub fn start_family(
    conn: &mut DbConnection,
    ctx: &OAuthContext,
    client: &Client,
    code: &ClaimedCode,
    family_id: &str,
    now: i64,
) -> Result<Option<String>, OAuthError> {
    let settings = &ctx.settings;
    let salt = client.issue_refresh_tokens.then(|| random_token(16));
    let absolute_expires_at = match salt {
        Some(_) => now + settings.refresh_token_absolute_ttl_seconds,
        None => now + settings.access_token_ttl_seconds,
    };
    oauth_token_families::insert(
        conn,
        &NewOAuthTokenFamily {
            family_id,
            client_pk: client.pk,
            user_id: code.user_id,
            grant_id: code.grant_id,
            scope: &code.scope,
            refresh_salt: salt.as_deref(),
            generation: 1,
            rotated_at: now,
            idle_expires_at: idle_expiry(ctx, absolute_expires_at, now),
            absolute_expires_at,
        },
    )?;
    Ok(salt.map(|salt| refresh_token::mint(&ctx.hasher, family_id, 1, &salt)))
}

/// When a refresh token issued `now` expires unused.
pub fn idle_expiry(ctx: &OAuthContext, absolute_expires_at: i64, now: i64) -> i64 {
    (now + ctx.settings.refresh_token_idle_ttl_seconds).min(absolute_expires_at)
}

/// Revokes a rotation family: its refresh token and every access token naming it.
pub fn revoke_family(conn: &mut DbConnection, family_id: &str, now: i64) -> Result<(), OAuthError> {
    oauth_token_families::revoke(conn, family_id, now)?;
    Ok(())
}
