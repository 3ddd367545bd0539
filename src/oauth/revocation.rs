//! Token revocation (RFC 7009). The client may revoke only its own tokens; an unknown
//! or foreign token is answered like a revoked one (200, nothing learned). Revoking a
//! refresh token revokes its whole family, access tokens included.

use std::sync::Arc;

use crate::db::oauth_authorization_codes::{self, FamilyOf};
use crate::db::{oauth_access_tokens, oauth_refresh_tokens, Database};
use crate::events::Actor;

use super::access_token;
use super::client::Client;
use super::client_auth;
use super::error::OAuthError;
use super::issue;
use super::token_request::PresentedClient;
use super::{event, OAuthContext};

/// Revokes `token` if it belongs to the authenticated client. Returns the client
/// (for CORS) alongside the outcome.
pub async fn revoke(
    db: &Database,
    ctx: Arc<OAuthContext>,
    presented: PresentedClient,
    token: String,
    ip: Option<String>,
    now: i64,
) -> (Result<(), OAuthError>, Option<Client>) {
    // The `jti` of a JWT we signed (expired or not); garbage is simply unknown.
    let jti = match access_token::kid_of(&token) {
        Ok(_) => access_token_jti(&ctx, &token),
        Err(_) => None,
    };
    let outcome = db
        .write(move |tx| {
            let client = match client_auth::authenticate(tx.conn, &ctx, &presented, now)? {
                Ok(client) => client,
                Err(failure) => {
                    if let Some(client_id) = &failure.count_failure {
                        client_auth::record_failure(tx, &ctx, client_id, ip, now)?;
                    }
                    return Ok((Err(failure.error), None));
                }
            };
            let actor = Actor {
                user_id: None,
                label: Some(format!("client {}", client.client_id)),
                ip,
            };
            if let Some(jti) = jti {
                if let Some((row, _)) =
                    oauth_access_tokens::find_by_jti_with_grant_state(tx.conn, &jti)?
                {
                    if row.client_pk == client.pk
                        && oauth_access_tokens::revoke_by_jti(tx.conn, &jti, now)? > 0
                    {
                        tx.publish(event(
                            &actor,
                            now,
                            "oauth.token_revoked",
                            "access token revoked by its client".into(),
                        ));
                    }
                }
                return Ok((Ok(()), Some(client)));
            }
            let hash = ctx.hasher.hash(&token);
            if let Some(row) = oauth_refresh_tokens::find_by_hash(tx.conn, &hash)? {
                if row.client_pk == client.pk && row.revoked_at.is_none() {
                    oauth_authorization_codes::lock_family(
                        tx.conn,
                        FamilyOf::Family(&row.family_id),
                    )?;
                    issue::revoke_family(tx.conn, &row.family_id, now)?;
                    tx.publish(event(
                        &actor,
                        now,
                        "oauth.token_revoked",
                        "refresh token (and its family) revoked by its client".into(),
                    ));
                }
            }
            Ok::<_, OAuthError>((Ok(()), Some(client)))
        })
        .await;
    match outcome {
        Ok(answer) => answer,
        Err(e) => (Err(e), None),
    }
}

/// The `jti` of a token signed by one of our published keys, ignoring expiry.
fn access_token_jti(ctx: &OAuthContext, token: &str) -> Option<String> {
    access_token::verify(&ctx.keys, token, &ctx.issuer, i64::MIN)
        .ok()
        .map(|claims| claims.jti)
}
