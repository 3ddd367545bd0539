//! Token revocation (RFC 7009). The client may revoke only its own tokens; an unknown
//! or foreign token is answered like a revoked one (200, nothing learned). Revoking a
//! refresh token revokes its whole family, access tokens included.

use std::sync::Arc;

use crate::db::{oauth_revoked_access_tokens, Database};
use crate::events::Actor;

use super::access_token;
use super::client::Client;
use super::client_auth;
use super::error::OAuthError;
use super::issue;
use super::refresh_token;
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
    // The claims of a JWT signed by one of our published keys, expired or not;
    // anything else is perhaps a refresh token.
    let access_token = access_token::verify(&ctx.keys, &token, &ctx.issuer, i64::MIN).ok();
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
            if let Some(claims) = access_token {
                if claims.client_id == client.client_id
                    && oauth_revoked_access_tokens::insert(tx.conn, &claims.jti, claims.exp)?
                {
                    tx.publish(event(
                        &actor,
                        now,
                        "oauth.token_revoked",
                        "access token revoked by its client".into(),
                    ));
                }
                return Ok((Ok(()), Some(client)));
            }
            if let Some(found) = refresh_token::lookup(tx.conn, &ctx.hasher, &token)? {
                let family = &found.family;
                if family.client_pk == client.pk && family.revoked_at.is_none() {
                    issue::revoke_family(tx.conn, &family.family_id, now)?;
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
