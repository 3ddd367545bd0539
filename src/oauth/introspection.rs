//! Token introspection (RFC 7662) for confidential clients. A client learns only about
//! tokens issued to clients of its own business; anything else is `active: false`.
//! The JWT signature is checked first (no database); client authentication and the
//! token's state are then read in one transaction.

use std::sync::Arc;

use serde::Serialize;

use crate::db::{oauth_clients, DbConnection};
use crate::events::Database;

use super::access_token::Claims;
use super::client::{user_subject, Client};
use super::client_auth::{self, AuthFailure};
use super::error::OAuthError;
use super::refresh_token;
use super::resource::{self, BearerError};
use super::token_request::PresentedClient;
use super::OAuthContext;

/// The introspection response (RFC 7662 §2.2). Everything but `active` is left out
/// for an inactive token.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Introspection {
    /// Whether the token is live and was issued to a client of the caller's business.
    pub active: bool,
    /// `Bearer` for an access token, `refresh_token` for a refresh token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// The token's scopes, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `user:<id>` or `client:<client_id>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The audience of an access token (`<issuer>/api/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The access token's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// When it was issued (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// When it expires (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

fn inactive() -> Introspection {
    Introspection::default()
}

/// What the presented token turned out to be, before the database is asked.
#[derive(Clone)]
enum Presented {
    /// A JWT we signed, not expired.
    AccessToken(Arc<Claims>),
    /// A JWT that does not verify, or has expired.
    DeadAccessToken,
    /// Anything else: perhaps a refresh token.
    Opaque(String),
}

pub async fn introspect(
    db: &Database,
    ctx: Arc<OAuthContext>,
    presented: PresentedClient,
    token: String,
    ip: Option<String>,
    now: i64,
) -> Result<Introspection, OAuthError> {
    let candidate = if token.matches('.').count() == 2 {
        match resource::verify_jwt(db, &ctx, &token, now).await {
            Ok(claims) => Presented::AccessToken(claims),
            Err(BearerError::Rejected(_)) => Presented::DeadAccessToken,
            Err(BearerError::Db(e)) => return Err(e.into()),
        }
    } else {
        Presented::Opaque(token)
    };
    let run_ctx = ctx.clone();
    let read_ip = ip.clone();
    let outcome = db
        .read(move |conn| {
            let caller = match client_auth::authenticate(
                conn,
                &run_ctx,
                &presented,
                read_ip.as_deref(),
                now,
            )? {
                Ok(client) if client.is_confidential() => client,
                Ok(_) => {
                    return Ok(Err(AuthFailure::refused(
                        "introspection is for confidential clients",
                    )))
                }
                Err(failure) => return Ok(Err(failure)),
            };
            let answer = match candidate {
                Presented::AccessToken(claims) => access_token(conn, &caller, &claims)?,
                Presented::DeadAccessToken => inactive(),
                Presented::Opaque(token) => refresh_token(conn, &run_ctx, &caller, &token, now)?,
            };
            Ok::<_, OAuthError>(Ok(answer))
        })
        .await?;
    match outcome {
        Ok(answer) => Ok(answer),
        // Introspection only reads; a wrong secret is decided and recorded on its own.
        Err(failure) => Err(client_auth::count_failure(db, ctx, failure, ip, now).await),
    }
}

fn access_token(
    conn: &mut DbConnection,
    caller: &Client,
    claims: &Claims,
) -> Result<Introspection, OAuthError> {
    let Some(live) = resource::live_access_token(conn, claims)? else {
        return Ok(inactive());
    };
    if live.client.owner_user_id != caller.owner_user_id {
        return Ok(inactive());
    }
    Ok(Introspection {
        active: true,
        token_type: Some("Bearer"),
        scope: Some(claims.scope.clone()),
        client_id: Some(claims.client_id.clone()),
        sub: Some(claims.sub.clone()),
        aud: Some(claims.aud.clone()),
        iss: Some(claims.iss.clone()),
        jti: Some(claims.jti.clone()),
        iat: Some(claims.iat),
        exp: Some(claims.exp),
    })
}

fn refresh_token(
    conn: &mut DbConnection,
    ctx: &OAuthContext,
    caller: &Client,
    token: &str,
    now: i64,
) -> Result<Introspection, OAuthError> {
    let Some(found) = refresh_token::lookup(conn, &ctx.hasher, token)? else {
        return Ok(inactive());
    };
    if !found.is_live(now) {
        return Ok(inactive());
    }
    let family = found.family;
    let Some(client) = oauth_clients::find(conn, family.client_pk)? else {
        return Ok(inactive());
    };
    if client.owner_user_id != caller.owner_user_id {
        return Ok(inactive());
    }
    Ok(Introspection {
        active: true,
        token_type: Some("refresh_token"),
        scope: Some(family.scope),
        client_id: Some(client.client_id),
        sub: Some(user_subject(family.user_id)),
        iss: Some(ctx.issuer.clone()),
        iat: Some(family.rotated_at),
        exp: Some(family.idle_expires_at.min(family.absolute_expires_at)),
        ..Introspection::default()
    })
}
