//! Periodic work every instance runs (it is idempotent, so several instances may):
//! reloading the access-token signing keys so a rotation reaches every instance within a
//! minute, and removing rows whose purpose has expired (codes, tokens, sessions,
//! throttle records).

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::sessions::Sessions;
use crate::audit;
use crate::clock::SharedClock;
use crate::config::Settings;
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
    pub audit_lines: usize,
}

/// What the periodic work needs.
#[derive(Clone)]
pub struct Maintenance {
    db: Database,
    oauth: Arc<OAuthContext>,
    sessions: Sessions,
    throttle_window_seconds: i64,
    audit_retention_days: i64,
}

impl Maintenance {
    pub fn new(
        db: Database,
        oauth: Arc<OAuthContext>,
        sessions: Sessions,
        settings: &Settings,
    ) -> Self {
        Self {
            db,
            oauth,
            sessions,
            throttle_window_seconds: settings.login_throttle.window_seconds,
            audit_retention_days: settings.audit_retention_days,
        }
    }

    /// Removes expired OAuth codes, tokens and retired keys, sessions that ended by
    /// time, failed-authentication records older than the throttle window, and audit
    /// lines older than `AUDIT_RETENTION_DAYS`.
    pub async fn prune_once(&self, now: i64) -> Result<Pruned, BoxError> {
        let removed = cleanup::run_once(&self.db, self.oauth.clone(), now).await?;
        let window = self.throttle_window_seconds;
        let auth_failures = self
            .db
            .write(move |tx| {
                Ok::<_, DbError>(auth_failures::delete_older_than(tx.conn, now - window)?)
            })
            .await?;
        let sessions = self.sessions.prune(now).await?;
        let audit_lines = audit::prune(&self.db, now, self.audit_retention_days).await?;
        Ok(Pruned {
            oauth: removed,
            auth_failures,
            sessions,
            audit_lines,
        })
    }

    /// Reloads the signing keys every minute (or every `interval`, when shorter) and
    /// runs [`Self::prune_once`] every `interval`, until the process stops.
    pub fn spawn(self, clock: SharedClock, interval: Duration) {
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
                    match self.prune_once(now).await {
                        Ok(pruned) => tracing::debug!(?pruned, "periodic clean-up"),
                        Err(error) => {
                            tracing::warn!(error = %Chain(&*error), "periodic clean-up failed")
                        }
                    }
                    continue;
                }
                let keys = self.oauth.clone();
                let reloaded = self
                    .db
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
}
