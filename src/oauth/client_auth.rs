//! Client authentication at the token, revocation and introspection endpoints. A
//! secret check costs one keyed hash (secrets are 256-bit random values, so no
//! password hash is needed) compared in constant time; failures are counted per
//! client in the database-backed throttle (R32).

use crate::accounts::throttle::Throttle;
use crate::crypto::constant_time_eq;
use crate::db::{oauth_clients, Committed, DbConnection};
use std::sync::Arc;

use crate::events::{Actor, Database, OAuthEvent, Tx};

use super::client::Client;
use super::error::OAuthError;
use super::token_request::PresentedClient;
use super::{event, OAuthContext, CLIENT_THROTTLE_SCOPE};

/// A refused authentication; `count_failure` says whether it counts toward the throttle.
#[derive(Debug)]
pub struct AuthFailure {
    pub error: OAuthError,
    pub count_failure: Option<String>,
}

impl AuthFailure {
    pub fn refused(description: &str) -> Self {
        Self {
            error: OAuthError::InvalidClient(description.into()),
            count_failure: None,
        }
    }
}

/// Identifies the client. Reads only; the caller records a counted failure (see
/// [`record_failure`]) in a transaction that commits.
pub fn authenticate(
    conn: &mut DbConnection,
    ctx: &OAuthContext,
    presented: &PresentedClient,
    now: i64,
) -> Result<Result<Client, AuthFailure>, OAuthError> {
    let Some(client_id) = presented.client_id() else {
        return Ok(Err(AuthFailure::refused(
            "client authentication is required",
        )));
    };
    let Some(row) = oauth_clients::find_by_client_id(conn, client_id)? else {
        return Ok(Err(AuthFailure {
            error: OAuthError::InvalidClient("unknown client or wrong secret".into()),
            count_failure: matches!(presented, PresentedClient::WithSecret { .. })
                .then(|| client_id.to_owned()),
        }));
    };
    let client = Client::from(row);
    match (client.is_confidential(), presented) {
        (false, PresentedClient::IdOnly { .. }) => Ok(Ok(client)),
        (false, _) => Ok(Err(AuthFailure::refused(
            "this is a public client: send client_id alone, without a secret",
        ))),
        (true, PresentedClient::WithSecret { secret, .. }) => {
            let throttle = Throttle::new(ctx.throttle_window_seconds, now);
            if let Some(retry_after_seconds) = throttle.check(
                conn,
                CLIENT_THROTTLE_SCOPE,
                &client.client_id,
                ctx.settings.max_client_auth_failures,
            )? {
                return Ok(Err(AuthFailure {
                    error: OAuthError::ClientThrottled {
                        retry_after_seconds,
                    },
                    count_failure: None,
                }));
            }
            let presented_hash = ctx.hasher.hash(secret);
            let stored = client.secret_hash.as_deref().unwrap_or("");
            if !stored.is_empty() && constant_time_eq(presented_hash.as_bytes(), stored.as_bytes())
            {
                Ok(Ok(client))
            } else {
                Ok(Err(AuthFailure {
                    error: OAuthError::InvalidClient("unknown client or wrong secret".into()),
                    count_failure: Some(client.client_id.clone()),
                }))
            }
        }
        (true, _) => Ok(Err(AuthFailure::refused(
            "this confidential client must authenticate with its secret",
        ))),
    }
}

/// Identifies the client inside a writing use case: a refusal that counts toward the
/// throttle is recorded in `tx` and returned as [`Committed::Refused`], so the
/// transaction commits the count before the refusal is answered.
pub fn authenticate_counting(
    tx: &mut Tx<'_>,
    ctx: &OAuthContext,
    presented: &PresentedClient,
    ip: Option<String>,
    now: i64,
) -> Result<Committed<Client, OAuthError>, OAuthError> {
    match authenticate(tx.conn, ctx, presented, now)? {
        Ok(client) => Ok(Committed::Done(client)),
        Err(failure) => {
            if let Some(client_id) = &failure.count_failure {
                record_failure(tx, ctx, client_id, ip, now)?;
            }
            Ok(Committed::Refused(failure.error))
        }
    }
}

/// For a use case that only reads: records `failure` in a transaction of its own if it
/// counts toward the throttle, and returns the error to answer.
pub async fn count_failure(
    db: &Database,
    ctx: Arc<OAuthContext>,
    failure: AuthFailure,
    ip: Option<String>,
    now: i64,
) -> OAuthError {
    let Some(client_id) = failure.count_failure else {
        return failure.error;
    };
    match db
        .write(move |tx| record_failure(tx, &ctx, &client_id, ip, now))
        .await
    {
        Ok(()) => failure.error,
        Err(e) => e,
    }
}

/// Counts a failed secret for the client and writes an audit line.
pub fn record_failure(
    tx: &mut Tx<'_>,
    ctx: &OAuthContext,
    client_id: &str,
    ip: Option<String>,
    now: i64,
) -> Result<(), OAuthError> {
    Throttle::new(ctx.throttle_window_seconds, now).record(
        tx.conn,
        CLIENT_THROTTLE_SCOPE,
        client_id,
    )?;
    tx.publish(event(
        &Actor::anonymous(ip),
        now,
        OAuthEvent::ClientAuthFailed {
            client_id: client_id.to_owned(),
        },
    ));
    Ok(())
}
