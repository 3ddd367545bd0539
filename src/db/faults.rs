//! PostgreSQL faults that a rerun of the use case resolves, seen where they happen.
//!
//! Every PostgreSQL connection carries a [`StatementWatch`] (diesel's instrumentation
//! hook): it sees each statement's failure, whatever the use case then does with the
//! error (wraps it in its own type, or even carries on). After a use case,
//! [`Database`](super::Database) asks it what happened ([`take`]) and decides:
//!
//! - **a serialization failure or a deadlock**: a concurrent transaction won, and
//!   PostgreSQL rolled this one back. The use case runs again, after a short random
//!   pause, up to [`MAX_ATTEMPTS`] in all.
//! - **a lost connection** (the server restarted, a backend was terminated, the network
//!   dropped): the connection is not handed out again ([`connection_lost`], which the
//!   pool asks), and the use case runs again on another one, unless the commit itself
//!   was under way (it may have committed; a rerun could apply it twice).
//!
//! A use case is one transaction that either committed or left nothing, so a rerun
//! starts from nothing; its closure is cloned before each run, so each run gets its
//! inputs afresh. A read runs without a transaction and writes nothing: its rerun is
//! always safe. On SQLite none of this arises: one writer runs every write in turn, and
//! a file does not go away.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::result::{DatabaseErrorKind, Error};
use diesel::Connection;
use rand::Rng;

use super::{Backend, DbConnection};

/// Runs of one use case at most: the first and three reruns.
pub(super) const MAX_ATTEMPTS: u32 = 4;

/// What a failed statement says about its transaction and connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// SQLSTATE 40001: the transaction could not be serialized with a concurrent one.
    SerializationFailure,
    /// SQLSTATE 40P01: PostgreSQL broke a lock cycle by aborting this transaction.
    Deadlock,
    /// The connection to the server is gone (or a statement could not be sent on it).
    ConnectionLost,
}

impl Fault {
    fn label(self) -> &'static str {
        match self {
            Fault::SerializationFailure => "serialization_failure",
            Fault::Deadlock => "deadlock",
            Fault::ConnectionLost => "connection_lost",
        }
    }
}

/// The fault a statement's error reports, if it is one a rerun can resolve.
///
/// diesel reports a serialization failure and a lost connection by kind; a deadlock it
/// reports only by PostgreSQL's message, `deadlock detected` (the text of servers whose
/// `lc_messages` is English or C, the default; with another language a deadlock is not
/// rerun, which the lock order in `oauth_token_families` makes moot for the token
/// endpoint).
pub(super) fn classify(error: &Error) -> Option<Fault> {
    match error {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
            Some(Fault::SerializationFailure)
        }
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => Some(Fault::ConnectionLost),
        Error::DatabaseError(_, info) if info.message().starts_with("deadlock detected") => {
            Some(Fault::Deadlock)
        }
        _ => None,
    }
}

/// The instrumentation of every PostgreSQL connection: remembers the first fault since
/// it was last asked, and whether the connection was ever lost.
#[derive(Debug, Default)]
pub(super) struct StatementWatch {
    fault: Option<Fault>,
    lost: bool,
}

impl StatementWatch {
    fn record(&mut self, error: &Error) {
        if let Some(fault) = classify(error) {
            self.fault.get_or_insert(fault);
            self.lost |= fault == Fault::ConnectionLost;
        }
    }
}

impl Instrumentation for StatementWatch {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery {
            error: Some(error), ..
        } = event
        {
            self.record(error);
        }
    }
}

fn watch(conn: &mut DbConnection) -> Option<&mut StatementWatch> {
    match &mut conn.0 {
        Backend::Postgres(pg) => pg.instrumentation().downcast_mut::<StatementWatch>(),
        Backend::Sqlite(_) => None,
    }
}

/// Forgets what an earlier use case on this connection met.
pub(super) fn reset(conn: &mut DbConnection) {
    if let Some(watch) = watch(conn) {
        watch.fault = None;
    }
}

/// Whether a fault was met since the last [`reset`] (and keeps it for [`take`]).
pub(super) fn seen(conn: &mut DbConnection) -> bool {
    watch(conn).is_some_and(|watch| watch.fault.is_some())
}

/// The fault met since the last [`reset`], if any.
pub(super) fn take(conn: &mut DbConnection) -> Option<Fault> {
    watch(conn).and_then(|watch| watch.fault.take())
}

/// The connection lost its server: the pool closes it instead of handing it out again.
pub(super) fn connection_lost(conn: &mut DbConnection) -> bool {
    watch(conn).is_some_and(|watch| watch.lost)
}

/// Counts and logs a rerun, then pauses before it: a random part of a window that
/// doubles with each attempt (2, 4, 8 ms), so that two transactions that collided do
/// not collide again in step. A lost connection needs no pause: the rerun takes
/// another connection (or is answered "unavailable" at once during an outage).
pub(super) fn before_rerun(fault: Fault, attempt: u32, access: &'static str) {
    metrics::counter!("bridgekeeper_db_reruns_total", "reason" => fault.label(), "access" => access)
        .increment(1);
    match fault {
        Fault::ConnectionLost => {
            tracing::warn!(
                attempt,
                access,
                "a database connection was lost; running the use case again on another"
            );
        }
        Fault::SerializationFailure | Fault::Deadlock => {
            tracing::warn!(
                attempt,
                access,
                reason = fault.label(),
                "a transaction lost to a concurrent one; running it again"
            );
            let window_ms = 2u64 << attempt.saturating_sub(1).min(8);
            let pause = rand::thread_rng().gen_range(0..=window_ms * 1000);
            std::thread::sleep(Duration::from_micros(pause));
        }
    }
}

/// Whether PostgreSQL answered the last attempt to open a connection. Shared by the
/// pool's connection manager, which records each attempt, and the database, which
/// answers "unavailable" at once when the pool is empty and the server was not reached.
#[derive(Debug)]
pub(super) struct Reachability(AtomicBool);

impl Default for Reachability {
    fn default() -> Self {
        Self(AtomicBool::new(true))
    }
}

impl Reachability {
    pub(super) fn connect_attempted(&self, succeeded: bool) {
        self.0.store(succeeded, Ordering::Relaxed);
    }

    pub(super) fn reachable(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn serialization_failures_deadlocks_and_lost_connections_are_faults_a_rerun_resolves() {
        assert_eq!(
            classify(&database_error(
                DatabaseErrorKind::SerializationFailure,
                "could not serialize access due to concurrent update"
            )),
            Some(Fault::SerializationFailure)
        );
        assert_eq!(
            classify(&database_error(
                DatabaseErrorKind::Unknown,
                "deadlock detected"
            )),
            Some(Fault::Deadlock)
        );
        for kind in [
            DatabaseErrorKind::ClosedConnection,
            DatabaseErrorKind::UnableToSendCommand,
        ] {
            assert_eq!(
                classify(&database_error(
                    kind,
                    "server closed the connection unexpectedly"
                )),
                Some(Fault::ConnectionLost)
            );
        }
    }

    #[test]
    fn other_failures_are_the_use_cases_answer() {
        for error in [
            database_error(DatabaseErrorKind::UniqueViolation, "duplicate key value"),
            database_error(
                DatabaseErrorKind::ForeignKeyViolation,
                "violates foreign key",
            ),
            database_error(DatabaseErrorKind::Unknown, "syntax error at or near"),
            Error::NotFound,
        ] {
            assert_eq!(classify(&error), None, "{error}");
        }
    }

    #[test]
    fn the_watch_keeps_the_first_fault_and_remembers_a_lost_connection() {
        let mut watch = StatementWatch::default();
        let deadlock = database_error(DatabaseErrorKind::Unknown, "deadlock detected");
        let lost = database_error(
            DatabaseErrorKind::ClosedConnection,
            "terminating connection",
        );
        watch.record(&Error::NotFound);
        assert_eq!(watch.fault, None);
        watch.record(&deadlock);
        watch.record(&lost);
        assert_eq!(watch.fault, Some(Fault::Deadlock));
        assert!(watch.lost);
    }
}
