//! The resource side: turning a presented access token into what it allows. The JWT
//! must verify (signature, issuer, audience, expiry), and its `jti` must still be
//! live in the database with its grant in force, so revocation takes effect at once.

use std::sync::Arc;

use crate::db::{oauth_access_tokens, oauth_clients, Database, DbError};

use super::access_token::{Claims, TokenRejected};
use super::scope::ScopeSet;
use super::OAuthContext;

/// How often an unknown `kid` may trigger a reload of the keys.
const RELOAD_ON_MISS_SECONDS: i64 = 5;

/// What a valid access token allows.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    /// The business the token acts for: the consenting user, or the client's owner
    /// for client-credentials tokens.
    pub business_user_id: i64,
    /// `Some` when a user consented (authorization code / refresh grants).
    pub user_id: Option<i64>,
    pub client_id: String,
    pub scope: ScopeSet,
    pub claims: Arc<Claims>,
}

#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error(transparent)]
    Rejected(#[from] TokenRejected),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Verifies the JWT, reloading the published keys once if its `kid` is new to us
/// (another instance may have rotated).
pub async fn verify_jwt(
    db: &Database,
    ctx: &Arc<OAuthContext>,
    token: &str,
    now: i64,
) -> Result<Arc<Claims>, BearerError> {
    let verify = || {
        ctx.verified_tokens
            .verify(&ctx.keys, token, &ctx.issuer, now)
    };
    match verify() {
        Err(TokenRejected::UnknownKey(_))
            if ctx.keys.loaded_at() + RELOAD_ON_MISS_SECONDS <= now =>
        {
            let reload_ctx = ctx.clone();
            db.read(move |conn| {
                reload_ctx
                    .keys
                    .reload(conn, now, reload_ctx.settings.access_token_ttl_seconds)
                    .map_err(|e| DbError::Task(e.to_string()))
            })
            .await?;
            Ok(verify()?)
        }
        other => Ok(other?),
    }
}

pub async fn authenticate(
    db: &Database,
    ctx: &Arc<OAuthContext>,
    token: &str,
    now: i64,
) -> Result<AccessGrant, BearerError> {
    let claims = verify_jwt(db, ctx, token, now).await?;
    let jti = claims.jti.clone();
    let found = db
        .read(move |conn| {
            let Some((row, grant_state)) =
                oauth_access_tokens::find_by_jti_with_grant_state(conn, &jti)?
            else {
                return Ok::<_, DbError>(None);
            };
            if row.revoked_at.is_some() || matches!(grant_state, Some(Some(_))) {
                return Ok(None);
            }
            let Some(client) = oauth_clients::find(conn, row.client_pk)? else {
                return Ok(None);
            };
            Ok(Some((row, client)))
        })
        .await?;
    let (row, client) = found.ok_or(TokenRejected::Revoked)?;
    Ok(AccessGrant {
        business_user_id: row.user_id.unwrap_or(client.owner_user_id),
        user_id: row.user_id,
        client_id: client.client_id,
        scope: ScopeSet::from_stored(&row.scope),
        claims,
    })
}
