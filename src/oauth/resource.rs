//! The resource side: turning a presented access token into what it allows. The JWT
//! must verify (signature, issuer, audience, expiry); then the database must still
//! know its client, its family (`sid`) and grant must be in force, and its `jti` must
//! not have been revoked, so any revocation takes effect at once.

use std::sync::Arc;

use crate::db::oauth_clients::{self, OAuthClient};
use crate::db::{oauth_revoked_access_tokens, oauth_token_families, DbConnection, DbError};
use crate::events::Database;

use super::access_token::{Claims, TokenRejected};
use super::client::client_subject;
use super::scope::ScopeSet;
use super::OAuthContext;
use crate::db::types::UserId;

/// How often an unknown `kid` may trigger a reload of the keys.
const RELOAD_ON_MISS_SECONDS: i64 = 5;

/// What a valid access token allows.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    /// The business the token acts for: the consenting user, or the client's owner
    /// for client-credentials tokens.
    pub business_user_id: UserId,
    /// `Some` when a user consented (authorization code / refresh grants).
    pub user_id: Option<UserId>,
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
                    .map_err(DbError::task)
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
    let checked = claims.clone();
    let live = db
        .read(move |conn| Ok::<_, DbError>(live_access_token(conn, &checked)?))
        .await?
        .ok_or(TokenRejected::Revoked)?;
    Ok(AccessGrant {
        business_user_id: live.user_id.unwrap_or(live.client.owner_user_id),
        user_id: live.user_id,
        client_id: live.client.client_id,
        scope: ScopeSet::from_stored(&claims.scope),
        claims,
    })
}

/// Whom a verified access token still acts for.
#[derive(Debug, Clone)]
pub struct LiveAccessToken {
    pub client: OAuthClient,
    /// The consenting user; `None` for a client-credentials token.
    pub user_id: Option<UserId>,
}

/// The database's side of an access token whose signature has been verified: `None`
/// once it, its family or its grant has been revoked, or its client deleted.
pub fn live_access_token(
    conn: &mut DbConnection,
    claims: &Claims,
) -> diesel::QueryResult<Option<LiveAccessToken>> {
    if oauth_revoked_access_tokens::contains(conn, &claims.jti)? {
        return Ok(None);
    }
    let Some(client) = oauth_clients::find_by_client_id(conn, &claims.client_id)? else {
        return Ok(None);
    };
    let user_id = match &claims.sid {
        Some(family_id) => {
            let Some((family, grant_revoked_at)) =
                oauth_token_families::find_with_grant_state(conn, family_id)?
            else {
                return Ok(None);
            };
            if family.client_pk != client.id
                || family.revoked_at.is_some()
                || grant_revoked_at.is_some()
            {
                return Ok(None);
            }
            Some(family.user_id)
        }
        // Only a client-credentials token has no family; it acts for its client.
        None if claims.sub == client_subject(&client.client_id) => None,
        None => return Ok(None),
    };
    Ok(Some(LiveAccessToken { client, user_id }))
}
