//! Transaction control as cached prepared statements. `batch_execute` parses its SQL
//! anew on every call; these are prepared once per connection and reused, like every
//! other query diesel caches (each statement is its own type, so its own cache entry).

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

use super::DbConnection;

macro_rules! control_statement {
    ($(#[$doc:meta])* $name:ident = $sql:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, QueryId)]
        pub(super) struct $name;

        impl<DB: Backend> QueryFragment<DB> for $name {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }

        impl<Conn> RunQueryDsl<Conn> for $name {}
    };
}

control_statement!(
    /// A read transaction (SQLite takes its snapshot at the first read).
    Begin = "BEGIN"
);
control_statement!(
    /// A write transaction that takes SQLite's write lock at once.
    BeginImmediate = "BEGIN IMMEDIATE"
);
control_statement!(Commit = "COMMIT");
control_statement!(Savepoint = "SAVEPOINT use_case");
control_statement!(Release = "RELEASE use_case");

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
