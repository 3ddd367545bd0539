//! Periodic clean-up: removes rows whose only purpose has expired. Every instance may run
//! it; the deletes are idempotent.

use std::time::Duration;

use crate::clock::SharedClock;
use crate::db::{auth_failures, Database, DbError};

/// What one pass removed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub auth_failures: usize,
}

/// Removes failed-authentication records older than the throttle window.
pub async fn prune_once(
    db: &Database,
    now: i64,
    throttle_window_seconds: i64,
) -> Result<Pruned, DbError> {
    db.run(move |tx| {
        Ok(Pruned {
            auth_failures: auth_failures::delete_older_than(
                tx.conn,
                now - throttle_window_seconds,
            )?,
        })
    })
    .await
}

/// Runs [`prune_once`] every `interval` until the process stops.
pub fn spawn(db: Database, clock: SharedClock, interval: Duration, throttle_window_seconds: i64) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match prune_once(&db, clock.now(), throttle_window_seconds).await {
                Ok(pruned) if pruned != Pruned::default() => {
                    tracing::info!(?pruned, "pruned expired rows")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "periodic clean-up failed"),
            }
        }
    });
}
