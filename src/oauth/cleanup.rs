//! The periodic clean-up: removes expired codes, tokens, throttle entries and signing
//! keys no longer published, and reloads the keys (so a rotation made by another
//! instance or the command line is picked up).

use std::sync::Arc;

use crate::db::{
    oauth_authorization_codes, oauth_revoked_access_tokens, oauth_signing_keys,
    oauth_token_families,
};
use crate::events::{Actor, Database, OAuthEvent};

use super::error::OAuthError;
use super::keys::RETIREMENT_MARGIN_SECONDS;
use super::{event, OAuthContext};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub codes: usize,
    /// Rotation families (sessions) past their end, or revoked for longer than an
    /// access token lives.
    pub token_families: usize,
    /// Entries of access tokens revoked one by one that have expired anyway.
    pub revoked_access_tokens: usize,
    pub signing_keys: usize,
}

pub async fn run_once(
    db: &Database,
    ctx: Arc<OAuthContext>,
    now: i64,
) -> Result<Removed, OAuthError> {
    db.write(move |tx| {
        let s = &ctx.settings;
        let removed = Removed {
            // Used codes are kept while the tokens they issued may live, so a late
            // replay still revokes them.
            codes: oauth_authorization_codes::delete_expired(
                tx.conn,
                now,
                s.refresh_token_absolute_ttl_seconds,
            )?,
            token_families: oauth_token_families::delete_expired(
                tx.conn,
                now,
                now - s.access_token_ttl_seconds,
            )?,
            revoked_access_tokens: oauth_revoked_access_tokens::delete_expired(tx.conn, now)?,
            signing_keys: oauth_signing_keys::delete_retired_before(
                tx.conn,
                now - s.access_token_ttl_seconds - RETIREMENT_MARGIN_SECONDS,
            )?,
        };
        ctx.keys
            .reload(tx.conn, now, s.access_token_ttl_seconds)
            .map_err(|e| OAuthError::server_error(e))?;
        let total = removed.codes + removed.token_families + removed.revoked_access_tokens;
        if total + removed.signing_keys > 0 {
            tx.publish(event(
                &Actor::system("cleanup"),
                now,
                OAuthEvent::ExpiredRemoved {
                    codes: removed.codes,
                    token_families: removed.token_families,
                    revoked_access_tokens: removed.revoked_access_tokens,
                    signing_keys: removed.signing_keys,
                },
            ));
        }
        Ok(removed)
    })
    .await
}
