//! Client authentication at the token, revocation and introspection endpoints. A
//! secret check costs one keyed hash (secrets are 256-bit random values, so no
//! password hash is needed) compared in constant time; failures are counted in the
//! database-backed throttle (R32) per (client, IP) and per IP, never per client alone:
//! a stranger guessing a client's secret from elsewhere cannot lock the real client
//! out. How a decision is made atomic is in [`crate::accounts::throttle`].

use crate::accounts::throttle::{Limit, Throttle};
use crate::crypto::constant_time_eq;
use crate::db::{oauth_clients, Committed, DbConnection};
use std::sync::Arc;

use crate::events::{Actor, Database, OAuthEvent, Tx};

use super::client::Client;
use super::error::OAuthError;
use super::token_request::PresentedClient;
use super::{event, OAuthContext, CLIENT_IP_THROTTLE_SCOPE, IP_THROTTLE_SCOPE};

/// Stands for the address of a request whose peer is not known.
const UNKNOWN_IP: &str = "unknown";

/// A refused authentication; `count_failure` names the client_id a wrong secret was
/// presented for, which must be recorded (see [`record_failure`]) before answering.
#[derive(Debug, Clone)]
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

/// The subject of the per-(client, IP) counter: the client_id (visible ASCII, no
/// spaces: checked at the edge), a space, the address.
pub fn client_ip_subject(client_id: &str, ip: &str) -> String {
    format!("{client_id} {ip}")
}

/// The counters one client-secret attempt is held to.
fn limits(ctx: &OAuthContext, client_id: &str, ip: Option<&str>) -> [Limit; 2] {
    let ip = ip.unwrap_or(UNKNOWN_IP);
    [
        Limit::new(
            CLIENT_IP_THROTTLE_SCOPE,
            client_ip_subject(client_id, ip),
            ctx.settings.max_client_auth_failures,
        ),
        Limit::new(
            IP_THROTTLE_SCOPE,
            ip,
            ctx.settings.max_client_auth_failures_per_ip,
        ),
    ]
}

/// Identifies the client. Reads only. A secret is compared only while its (client, IP)
/// and IP are under their limits; a wrong one is returned with `count_failure` set,
/// and the caller decides and records it with [`record_failure`] in a transaction that
/// commits.
pub fn authenticate(
    conn: &mut DbConnection,
    ctx: &OAuthContext,
    presented: &PresentedClient,
    ip: Option<&str>,
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
            // Refused before the comparison when a limit is reached, so a throttled
            // answer is the same, and as quick, for a right secret and a wrong one.
            let throttle = Throttle::new(ctx.throttle_window_seconds, now);
            if let Some(retry_after_seconds) =
                throttle.check(conn, &limits(ctx, &client.client_id, ip))?
            {
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
                // A right secret writes nothing another decision reads, so that count
                // decided it: it is ordered before every failure it did not see.
                Ok(Ok(client))
            } else {
                // A wrong one is decided again, atomically, as it is recorded.
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

/// Identifies the client inside a writing use case: a wrong secret is decided and
/// recorded in `tx` and returned as [`Committed::Refused`], so the transaction commits
/// the count before the refusal is answered.
pub fn authenticate_counting(
    tx: &mut Tx<'_>,
    ctx: &OAuthContext,
    presented: &PresentedClient,
    ip: Option<String>,
    now: i64,
) -> Result<Committed<Client, OAuthError>, OAuthError> {
    match authenticate(tx.conn, ctx, presented, ip.as_deref(), now)? {
        Ok(client) => Ok(Committed::Done(client)),
        Err(failure) => Ok(Committed::Refused(record_failure(
            tx, ctx, failure, ip, now,
        )?)),
    }
}

/// For a use case that only reads: decides and records `failure` in a transaction of
/// its own if it counts toward the throttle, and returns the error to answer.
pub async fn count_failure(
    db: &Database,
    ctx: Arc<OAuthContext>,
    failure: AuthFailure,
    ip: Option<String>,
    now: i64,
) -> OAuthError {
    if failure.count_failure.is_none() {
        return failure.error;
    }
    db.write(move |tx| record_failure(tx, &ctx, failure, ip, now))
        .await
        .unwrap_or_else(|e| e)
}

/// The answer to a refused authentication. For a wrong secret: one atomic decision
/// ([`Throttle::reserve`]) that, while the (client, IP) and the IP are under their
/// limits, records the failure for both (and an audit line) and answers
/// `invalid_client`; past a limit it records nothing and answers 429. So of N
/// concurrent wrong secrets at most the limit are told they were wrong.
pub fn record_failure(
    tx: &mut Tx<'_>,
    ctx: &OAuthContext,
    failure: AuthFailure,
    ip: Option<String>,
    now: i64,
) -> Result<OAuthError, OAuthError> {
    let Some(client_id) = failure.count_failure else {
        return Ok(failure.error);
    };
    let throttle = Throttle::new(ctx.throttle_window_seconds, now);
    match throttle.reserve(tx.conn, &limits(ctx, &client_id, ip.as_deref()))? {
        Err(retry_after_seconds) => Ok(OAuthError::ClientThrottled {
            retry_after_seconds,
        }),
        Ok(_recorded) => {
            tx.publish(event(
                &Actor::anonymous(ip),
                now,
                OAuthEvent::ClientAuthFailed { client_id },
            ));
            Ok(failure.error)
        }
    }
}
