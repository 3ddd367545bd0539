use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::schema::auth_failures;
use super::{Backend, DbConnection};

pub fn record(conn: &mut DbConnection, scope: &str, subject: &str, at: i64) -> QueryResult<()> {
    insert(conn, scope, subject, at).map(|_| ())
}

/// Inserts one failure (or a reservation that will be one unless it is released) and
/// returns its id.
pub fn insert(conn: &mut DbConnection, scope: &str, subject: &str, at: i64) -> QueryResult<i64> {
    on_each_backend!(conn, |c| diesel::insert_into(auth_failures::table)
        .values((
            auth_failures::scope.eq(scope),
            auth_failures::subject.eq(subject),
            auth_failures::occurred_at.eq(at),
        ))
        .returning(auth_failures::id)
        .get_result(c))
}

prepared_statement!(
    /// Takes a PostgreSQL advisory lock that is held until the transaction ends.
    struct AdvisoryXactLock { key: i64 } = "SELECT pg_advisory_xact_lock(" {key: BigInt} ")";
);

/// Makes the caller the only transaction deciding for these `(scope, subject)` pairs
/// until it commits or rolls back, so that counting their failures, deciding, and
/// inserting a row is atomic across connections and instances.
///
/// - **PostgreSQL**: one transaction-scoped advisory lock per pair, keyed by the first
///   64 bits of SHA-256 over the scope and subject (a collision only makes two subjects
///   wait for each other). Taken in ascending key order, so two deciders that share
///   two pairs cannot deadlock; a caller must take these before any row lock (client
///   authentication comes first in its use case). The count that follows is a new
///   statement, so under READ COMMITTED it sees every failure committed by the lock's
///   previous holder. A row lock cannot serve: there is no row to lock before the first
///   failure, and a conditional `INSERT … SELECT … WHERE count < limit` is not atomic
///   under READ COMMITTED (two statements both count the same committed rows).
/// - **SQLite**: nothing to do. Every write runs on the one writer thread, one use case
///   after another (group commit puts several in one transaction, each in its own
///   savepoint, each seeing the ones before it), so no other decider runs in between.
pub fn lock(conn: &mut DbConnection, pairs: &[(&str, &str)]) -> QueryResult<()> {
    let Backend::Postgres(c) = &mut conn.0 else {
        return Ok(());
    };
    let mut keys: Vec<i64> = pairs
        .iter()
        .map(|(scope, subject)| lock_key(scope, subject))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        AdvisoryXactLock { key }.execute(c)?;
    }
    Ok(())
}

fn lock_key(scope: &str, subject: &str) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0u8]);
    hasher.update(subject.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Failures for this subject at or after `since`, and the oldest of them (from which
/// the caller can tell when the window frees up again).
pub fn count_since(
    conn: &mut DbConnection,
    scope: &str,
    subject: &str,
    since: i64,
) -> QueryResult<(i64, Option<i64>)> {
    let query = auth_failures::table
        .filter(auth_failures::scope.eq(scope))
        .filter(auth_failures::subject.eq(subject))
        .filter(auth_failures::occurred_at.ge(since))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(auth_failures::occurred_at),
        ));
    on_each_backend!(conn, |c| query.first(c))
}

diesel::define_sql_function! {
    /// `substr(text, start, length)`: the same on both backends (1-based, in characters).
    fn substr(text: diesel::sql_types::Text, start: diesel::sql_types::Integer, length: diesel::sql_types::Integer) -> diesel::sql_types::Text;
}

/// Failures at or after `since` in `scope` whose subject starts with `prefix` (exactly,
/// case included; `prefix` is ASCII), and how many distinct subjects they have.
pub fn count_with_prefix_since(
    conn: &mut DbConnection,
    scope: &str,
    prefix: &str,
    since: i64,
) -> QueryResult<(i64, i64)> {
    let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    let query = auth_failures::table
        .filter(auth_failures::scope.eq(scope))
        .filter(substr(auth_failures::subject, 1, length).eq(prefix))
        .filter(auth_failures::occurred_at.ge(since))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::count(auth_failures::subject).aggregate_distinct(),
        ));
    on_each_backend!(conn, |c| query.first(c))
}

/// Deletes these rows (reservations of an attempt that succeeded).
pub fn delete_ids(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    on_each_backend!(conn, |c| diesel::delete(
        auth_failures::table.filter(auth_failures::id.eq_any(ids))
    )
    .execute(c))
}

/// Deletes the subject's rows up to and including `last_id`: the failures recorded
/// before an attempt that succeeded, not those of attempts reserved after it.
pub fn clear_through(
    conn: &mut DbConnection,
    scope: &str,
    subject: &str,
    last_id: i64,
) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        auth_failures::table
            .filter(auth_failures::scope.eq(scope))
            .filter(auth_failures::subject.eq(subject))
            .filter(auth_failures::id.le(last_id)),
    )
    .execute(c))
}

pub fn delete_older_than(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        auth_failures::table.filter(auth_failures::occurred_at.lt(before))
    )
    .execute(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_tell_scopes_and_subjects_apart() {
        assert_eq!(lock_key("a", "b"), lock_key("a", "b"));
        assert_ne!(lock_key("a", "b"), lock_key("b", "a"));
        // The separator keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(lock_key("ab", "c"), lock_key("a", "bc"));
    }
}
