//! A sliding-window failure counter kept in the database, shared by login and (later)
//! client authentication, so that several instances agree on who is throttled.

use crate::db::{auth_failures, DbConnection};

pub const LOGIN_ACCOUNT: &str = "login.account";
pub const LOGIN_IP: &str = "login.ip";

#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    window_seconds: i64,
    now: i64,
}

impl Throttle {
    pub fn new(window_seconds: i64, now: i64) -> Self {
        Self {
            window_seconds,
            now,
        }
    }

    /// `Some(seconds until the oldest counted failure leaves the window)` when `subject`
    /// has `max_failures` or more failures in the window; `None` when it may try. Each
    /// decision is counted by scope.
    pub fn check(
        &self,
        conn: &mut DbConnection,
        scope: &'static str,
        subject: &str,
        max_failures: i64,
    ) -> diesel::QueryResult<Option<i64>> {
        let since = self.now - self.window_seconds;
        let (count, oldest) = auth_failures::count_since(conn, scope, subject, since)?;
        let refused = count >= max_failures;
        metrics::counter!(
            "bridgekeeper_throttle_decisions_total",
            "scope" => scope,
            "decision" => if refused { "refused" } else { "allowed" },
        )
        .increment(1);
        Ok(refused.then(|| {
            let oldest = oldest.unwrap_or(self.now);
            (oldest + self.window_seconds - self.now).max(1)
        }))
    }

    pub fn record(
        &self,
        conn: &mut DbConnection,
        scope: &str,
        subject: &str,
    ) -> diesel::QueryResult<()> {
        auth_failures::record(conn, scope, subject, self.now)
    }
}
