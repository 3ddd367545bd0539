//! A sliding-window failure counter kept in the database, shared by login and client
//! authentication, so that several instances agree on who is throttled.
//!
//! An attempt that is allowed to find out whether its password or secret is right
//! must be decided atomically with the failures it is counted against: otherwise N
//! concurrent guesses all read the same count and all go on. So a failure is recorded
//! by [`Throttle::reserve`]: in one write transaction it locks the subjects
//! ([`auth_failures::lock`]: an advisory lock on PostgreSQL, the single writer on
//! SQLite), counts, decides, and inserts the row, so N concurrent reservations are
//! granted at most the limit.
//!
//! - **Login** reserves before the password hash (the expensive part, and the one that
//!   tells right from wrong): the row is inserted up front as if the attempt failed and
//!   deleted when it succeeds. An attempt in progress counts, and one that never
//!   finishes (the process dies) stays counted.
//! - **Client secrets** cost one keyed hash, done inside the use case's transaction.
//!   Every attempt is first held to [`Throttle::check`], a plain count, so a throttled
//!   answer is the same for a right and a wrong secret. A right secret then goes on:
//!   it writes nothing another decision reads, so it is ordered before every failure
//!   it did not see, and none goes on once the limit's failures are committed. A wrong
//!   one reserves, and its row is the failure: of N concurrent wrong secrets at most
//!   the limit are answered "wrong", the rest 429.

use crate::db::{auth_failures, DbConnection};

pub const LOGIN_ACCOUNT: &str = "login.account";
pub const LOGIN_IP: &str = "login.ip";

/// One counter an attempt is held to: at most `max_failures` in the window.
#[derive(Debug, Clone)]
pub struct Limit {
    pub scope: &'static str,
    pub subject: String,
    pub max_failures: i64,
}

impl Limit {
    pub fn new(scope: &'static str, subject: impl Into<String>, max_failures: i64) -> Self {
        Self {
            scope,
            subject: subject.into(),
            max_failures,
        }
    }
}

/// The rows a granted reservation inserted, one per limit, in the limits' order.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub ids: Vec<i64>,
}

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

    /// `Some(seconds until the window frees up)` when any limit has `max_failures` or
    /// more failures in the window; `None` when the attempt may go on. Reads only, and
    /// counts each limit's decision (`bridgekeeper_throttle_decisions_total`).
    pub fn check(
        &self,
        conn: &mut DbConnection,
        limits: &[Limit],
    ) -> diesel::QueryResult<Option<i64>> {
        let mut retry_after: Option<i64> = None;
        for limit in limits {
            let since = self.now - self.window_seconds;
            let (count, oldest) =
                auth_failures::count_since(conn, limit.scope, &limit.subject, since)?;
            let refused = count >= limit.max_failures;
            count_decision(limit.scope, refused);
            if refused {
                let oldest = oldest.unwrap_or(self.now);
                let wait = (oldest + self.window_seconds - self.now).max(1);
                retry_after = Some(retry_after.map_or(wait, |w| w.max(wait)));
            }
        }
        Ok(retry_after)
    }

    /// Atomically (see the module's documentation): when every limit is under its
    /// maximum, records one failure for each and returns their ids; otherwise records
    /// nothing and returns `Err(seconds until the window frees up)`. Must run in a
    /// writing use case, before it takes any row lock.
    pub fn reserve(
        &self,
        conn: &mut DbConnection,
        limits: &[Limit],
    ) -> diesel::QueryResult<Result<Reservation, i64>> {
        let pairs: Vec<(&str, &str)> = limits
            .iter()
            .map(|limit| (limit.scope, limit.subject.as_str()))
            .collect();
        auth_failures::lock(conn, &pairs)?;
        if let Some(retry_after) = self.check(conn, limits)? {
            return Ok(Err(retry_after));
        }
        let mut ids = Vec::with_capacity(limits.len());
        for limit in limits {
            ids.push(auth_failures::insert(
                conn,
                limit.scope,
                &limit.subject,
                self.now,
            )?);
        }
        Ok(Ok(Reservation { ids }))
    }
}

/// Counts one throttle decision by scope.
fn count_decision(scope: &'static str, refused: bool) {
    metrics::counter!(
        "bridgekeeper_throttle_decisions_total",
        "scope" => scope,
        "decision" => if refused { "refused" } else { "allowed" },
    )
    .increment(1);
}
