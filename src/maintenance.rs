//! Periodic work every instance runs (it is idempotent, so several instances may):
//! reloading the access-token signing keys so a rotation reaches every instance within a
//! minute, and removing rows whose purpose has expired (codes, tokens, sessions,
//! throttle records).

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::sessions::Sessions;
use crate::clock::SharedClock;
use crate::db::{auth_failures, DbError};
use crate::error::{BoxError, Chain};
use crate::events::Database;
use crate::oauth::{cleanup, OAuthContext};

/// What one clean-up pass removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub oauth: cleanup::Removed,
    pub auth_failures: usize,
    pub sessions: usize,
}

/// Removes expired OAuth codes, tokens and retired keys, sessions that ended by time,
/// and failed-authentication records older than the throttle window.
pub async fn prune_once(
    db: &Database,
    oauth: Arc<OAuthContext>,
    sessions: &Sessions,
    now: i64,
    throttle_window_seconds: i64,
) -> Result<Pruned, BoxError> {
    let removed = cleanup::run_once(db, oauth, now).await?;
    let auth_failures = db
        .write(move |tx| {
            Ok::<_, DbError>(auth_failures::delete_older_than(
                tx.conn,
                now - throttle_window_seconds,
            )?)
        })
        .await?;
    let sessions = sessions.prune(now).await?;
    Ok(Pruned {
        oauth: removed,
        auth_failures,
        sessions,
    })
}

/// Reloads the signing keys every minute (or every `interval`, when shorter) and runs
/// [`prune_once`] every `interval`, until the process stops.
pub fn spawn(
    db: Database,
    clock: SharedClock,
    oauth: Arc<OAuthContext>,
    sessions: Sessions,
    interval: Duration,
    throttle_window_seconds: i64,
) {
    let tick = interval
        .min(Duration::from_secs(60))
        .max(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut since_pruning = Duration::ZERO;
        loop {
            tokio::time::sleep(tick).await;
            since_pruning += tick;
            let now = clock.now();
            if since_pruning >= interval {
                since_pruning = Duration::ZERO;
                // Pruning reloads the keys too.
                match prune_once(&db, oauth.clone(), &sessions, now, throttle_window_seconds).await
                {
                    Ok(pruned) => tracing::debug!(?pruned, "periodic clean-up"),
                    Err(error) => {
                        tracing::warn!(error = %Chain(&*error), "periodic clean-up failed")
                    }
                }
                continue;
            }
            let keys = oauth.clone();
            let reloaded = db
                .read(move |conn| {
                    keys.keys
                        .reload(conn, now, keys.settings.access_token_ttl_seconds)
                })
                .await;
            if let Err(error) = reloaded {
                tracing::warn!(error = %Chain(&error), "reloading signing keys failed");
            }
        }
    });
}
