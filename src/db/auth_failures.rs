use diesel::prelude::*;

use super::schema::auth_failures;
use super::DbConnection;

pub fn record(conn: &mut DbConnection, scope: &str, subject: &str, at: i64) -> QueryResult<()> {
    on_each_backend!(conn, |c| diesel::insert_into(auth_failures::table)
        .values((
            auth_failures::scope.eq(scope),
            auth_failures::subject.eq(subject),
            auth_failures::occurred_at.eq(at),
        ))
        .execute(c))?;
    Ok(())
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

pub fn clear(conn: &mut DbConnection, scope: &str, subject: &str) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        auth_failures::table
            .filter(auth_failures::scope.eq(scope))
            .filter(auth_failures::subject.eq(subject)),
    )
    .execute(c))
}

pub fn delete_older_than(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        auth_failures::table.filter(auth_failures::occurred_at.lt(before))
    )
    .execute(c))
}
