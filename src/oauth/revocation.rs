//! Token revocation (RFC 7009). The client may revoke only its own tokens; an unknown
//! or foreign token is answered like a revoked one (200, nothing learned). Revoking a
//! refresh token revokes its whole family, access tokens included.

use std::sync::Arc;

use crate::db::{oauth_revoked_access_tokens, Committed};
use crate::events::{Actor, Database, OAuthEvent, RevokedToken};

use super::access_token;
use super::client_auth;
use super::error::OAuthError;
use super::issue;
use super::refresh_token;
use super::token_request::PresentedClient;
use super::{event, OAuthContext};

/// Revokes `token` if it belongs to the authenticated client.
pub async fn revoke(
    db: &Database,
    ctx: Arc<OAuthContext>,
    presented: PresentedClient,
    token: String,
    ip: Option<String>,
    now: i64,
) -> Result<(), OAuthError> {
    // The claims of a JWT signed by one of our published keys, expired or not;
    // anything else is perhaps a refresh token.
    let access_token = access_token::verify(&ctx.keys, &token, &ctx.issuer, i64::MIN).ok();
    db.write(move |tx| {
        let client =
            match client_auth::authenticate_counting(tx, &ctx, &presented, ip.clone(), now)? {
                Committed::Done(client) => client,
                Committed::Refused(error) => return Ok(Committed::Refused(error)),
            };
        let actor = Actor::client(&client.client_id, ip);
        if let Some(claims) = access_token {
            if claims.client_id == client.client_id
                && oauth_revoked_access_tokens::insert(tx.conn, &claims.jti, claims.exp)?
            {
                tx.publish(event(
                    &actor,
                    now,
                    OAuthEvent::TokenRevoked {
                        token: RevokedToken::Access,
                    },
                ));
            }
            return Ok(Committed::Done(()));
        }
        if let Some(found) = refresh_token::lookup(tx.conn, &ctx.hasher, &token)? {
            let family = &found.family;
            if family.client_pk == client.pk && family.revoked_at.is_none() {
                issue::revoke_family(tx.conn, &family.family_id, now)?;
                tx.publish(event(
                    &actor,
                    now,
                    OAuthEvent::TokenRevoked {
                        token: RevokedToken::RefreshFamily,
                    },
                ));
            }
        }
        Ok::<_, OAuthError>(Committed::Done(()))
    })
    .await?
    .into_result()
}
