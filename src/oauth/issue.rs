//! Minting tokens: a JWT access token (recorded by `jti` in the transaction, signed
//! after it) and, when the client gets them, an opaque refresh token stored as a keyed
//! hash; and revoking a rotation family.

use serde::Serialize;

use crate::crypto::{random_token, time_ordered_id};
use crate::db::oauth_access_tokens::{self, NewOAuthAccessToken};
use crate::db::oauth_refresh_tokens::{self, NewOAuthRefreshToken};
use crate::db::DbConnection;

use super::access_token::{self, Claims};
use super::client::{client_subject, user_subject, Client};
use super::error::OAuthError;
use super::keys::KeyRing;
use super::scope::ScopeSet;
use super::OAuthContext;

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
    pub user_id: Option<i64>,
    pub grant_id: Option<i64>,
    /// The rotation chain the token belongs to (code and refresh grants).
    pub family_id: Option<&'a str>,
}

/// Records a new access token and returns its claims, to be signed after the commit.
pub fn access_token(
    conn: &mut DbConnection,
    ctx: &OAuthContext,
    subject: &Subject<'_>,
    scope: &ScopeSet,
    now: i64,
) -> Result<Claims, OAuthError> {
    let jti = time_ordered_id(now);
    let expires_at = now + ctx.settings.access_token_ttl_seconds;
    let scope_text = scope.to_string();
    oauth_access_tokens::insert(
        conn,
        &NewOAuthAccessToken {
            jti: &jti,
            client_pk: subject.client.pk,
            user_id: subject.user_id,
            grant_id: subject.grant_id,
            family_id: subject.family_id,
            scope: &scope_text,
            issued_at: now,
            expires_at,
        },
    )?;
    Ok(Claims {
        iss: ctx.issuer.clone(),
        sub: match subject.user_id {
            Some(user_id) => user_subject(user_id),
            None => client_subject(&subject.client.client_id),
        },
        aud: access_token::audience(&ctx.issuer),
        client_id: subject.client.client_id.clone(),
        scope: scope_text,
        jti,
        iat: now,
        exp: expires_at,
    })
}

/// A new refresh token in `family_id`, expiring when idle or at the family's end.
#[allow(clippy::too_many_arguments)]
pub fn refresh_token(
    conn: &mut DbConnection,
    ctx: &OAuthContext,
    client: &Client,
    user_id: i64,
    grant_id: i64,
    family_id: &str,
    scope: &ScopeSet,
    absolute_expires_at: i64,
    now: i64,
) -> Result<String, OAuthError> {
    let token = random_token(32);
    let hash = ctx.hasher.hash(&token);
    let scope_text = scope.to_string();
    oauth_refresh_tokens::insert(
        conn,
        &NewOAuthRefreshToken {
            token_hash: &hash,
            family_id,
            client_pk: client.pk,
            user_id,
            grant_id,
            scope: &scope_text,
            issued_at: now,
            idle_expires_at: (now + ctx.settings.refresh_token_idle_ttl_seconds)
                .min(absolute_expires_at),
            absolute_expires_at,
        },
    )?;
    Ok(token)
}

/// Revokes every access and refresh token of a rotation family (a code's exchange and
/// all its refreshes). The caller holds the family's lock
/// ([`crate::db::oauth_authorization_codes::lock_family`]).
pub fn revoke_family(conn: &mut DbConnection, family_id: &str, now: i64) -> Result<(), OAuthError> {
    oauth_access_tokens::revoke_family(conn, family_id, now)?;
    oauth_refresh_tokens::revoke_family(conn, family_id, now)?;
    Ok(())
}
