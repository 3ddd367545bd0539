//! Token introspection (RFC 7662) for confidential clients. A client learns only about
//! tokens issued to clients of its own business; anything else is `active: false`.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::db::{oauth_clients, oauth_grants, oauth_refresh_tokens, Database};

use super::client::user_subject;
use super::client_auth;
use super::error::OAuthError;
use super::resource::{self, BearerError};
use super::token_request::PresentedClient;
use super::OAuthContext;

fn inactive() -> Value {
    json!({ "active": false })
}

pub async fn introspect(
    db: &Database,
    ctx: Arc<OAuthContext>,
    presented: PresentedClient,
    token: String,
    ip: Option<String>,
    now: i64,
) -> Result<Value, OAuthError> {
    let auth_ctx = ctx.clone();
    let caller = db
        .run(move |tx| client_auth::authenticate(tx.conn, &auth_ctx, &presented, now))
        .await?;
    let caller = match caller {
        Ok(client) if client.is_confidential() => client,
        Ok(_) => {
            return Err(OAuthError::InvalidClient(
                "introspection is for confidential clients".into(),
            ))
        }
        Err(failure) => {
            if let Some(client_id) = failure.count_failure {
                let record_ctx = ctx.clone();
                db.run_write(move |tx| {
                    client_auth::record_failure(tx, &record_ctx, &client_id, ip, now)
                })
                .await?;
            }
            return Err(failure.error);
        }
    };

    if token.matches('.').count() == 2 {
        return match resource::authenticate(db, &ctx, &token, now).await {
            Ok(grant) => {
                let client_owner = client_owner(db, grant.client_id.clone()).await?;
                if client_owner != Some(caller.owner_user_id) {
                    return Ok(inactive());
                }
                let c = grant.claims;
                Ok(json!({
                    "active": true,
                    "token_type": "Bearer",
                    "scope": c.scope,
                    "client_id": c.client_id,
                    "sub": c.sub,
                    "aud": c.aud,
                    "iss": c.iss,
                    "jti": c.jti,
                    "iat": c.iat,
                    "exp": c.exp,
                }))
            }
            Err(BearerError::Rejected(_)) => Ok(inactive()),
            Err(BearerError::Db(e)) => Err(e.into()),
        };
    }

    let hash = ctx.hasher.hash(&token);
    let issuer = ctx.issuer.clone();
    db.run(move |tx| {
        let Some(row) = oauth_refresh_tokens::find_by_hash(tx.conn, &hash)? else {
            return Ok(inactive());
        };
        let live = row.revoked_at.is_none()
            && row.superseded_at.is_none()
            && row.idle_expires_at > now
            && row.absolute_expires_at > now;
        let grant_live =
            oauth_grants::find(tx.conn, row.grant_id)?.is_some_and(|g| g.revoked_at.is_none());
        let Some(client) = oauth_clients::find(tx.conn, row.client_pk)? else {
            return Ok(inactive());
        };
        if !live || !grant_live || client.owner_user_id != caller.owner_user_id {
            return Ok(inactive());
        }
        Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": row.scope,
            "client_id": client.client_id,
            "sub": user_subject(row.user_id),
            "iss": issuer,
            "iat": row.issued_at,
            "exp": row.idle_expires_at.min(row.absolute_expires_at),
        }))
    })
    .await
}

async fn client_owner(db: &Database, client_id: String) -> Result<Option<i64>, OAuthError> {
    db.run(move |tx| {
        Ok(oauth_clients::find_by_client_id(tx.conn, &client_id)?.map(|c| c.owner_user_id))
    })
    .await
}
