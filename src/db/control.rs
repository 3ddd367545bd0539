//! Transaction control as cached prepared statements. `batch_execute` parses its SQL
//! anew on every call; these are prepared once per connection and reused, like every
//! other query diesel caches (each statement is its own type, so its own cache entry).

use diesel::query_builder::{QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

use super::DbConnection;

prepared_statement!(
    /// A read transaction (SQLite takes its snapshot at the first read).
    pub(super) struct Begin = "BEGIN";
);
prepared_statement!(
    /// A write transaction that takes SQLite's write lock at once.
    pub(super) struct BeginImmediate = "BEGIN IMMEDIATE";
);
prepared_statement!(pub(super) struct Commit = "COMMIT";);
prepared_statement!(pub(super) struct Savepoint = "SAVEPOINT use_case";);
prepared_statement!(pub(super) struct Release = "RELEASE use_case";);

/// Runs one control statement on whichever backend `conn` is.
pub(super) fn run<S>(conn: &mut DbConnection, statement: S) -> QueryResult<()>
where
    S: QueryFragment<diesel::sqlite::Sqlite>
        + QueryFragment<diesel::pg::Pg>
        + QueryId
        + RunQueryDsl<diesel::SqliteConnection>
        + RunQueryDsl<diesel::PgConnection>,
{
    on_each_backend!(conn, |c| statement.execute(c)).map(|_| ())
}
