//! The one place that talks to the database.
//!
//! Both backends are compiled in; [`DatabaseUrl`] picks one at run time from the URL
//! scheme. Every use case runs through [`Database::read`] or [`Database::write`]: one
//! blocking closure, one transaction. What a write recorded ([`Tx::publish`]) is handed
//! to the [`AfterUseCase`] hook the database was opened with, inside that transaction;
//! `db` knows nothing of what the records mean (the service's event bus is its hook).

/// Runs a query on the concrete connection of either backend. Every query in `db/`
/// goes through it: the multi-backend connection renders a query's SQL text anew on
/// every execution (even when the statement is cached), while the concrete connection
/// finds its prepared statement by the query's type. It also expresses what the
/// multi-backend connection cannot (`ON CONFLICT`, `FOR UPDATE`). The body is pasted
/// into each arm, so a query that names its backend (`as_select()`) is typed per arm.
macro_rules! on_each_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match &mut $conn.0 {
            $crate::db::Backend::Sqlite($c) => $body,
            $crate::db::Backend::Postgres($c) => $body,
        }
    };
}

/// Declares a statement written out as SQL text, with `{field: SqlType}` where a field
/// is bound (any of `diesel::sql_types`, `Nullable<Text>` included), so that each
/// connection prepares it once: it is its own type, hence its own entry in diesel's
/// statement cache (an `UPDATE` built with diesel's DSL, an `INSERT` of a struct, or
/// `batch_execute`, renders its SQL anew on every call to find its cache entry).
/// Implemented for the two concrete backends [`on_each_backend!`] runs queries on.
/// `execute` runs it; a statement with `RETURNING` (or a `SELECT`) is read with
/// `get_result`/`load` into a `QueryableByName` row.
macro_rules! prepared_statement {
    ($(#[$doc:meta])* $vis:vis struct $name:ident = $sql:literal;) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        prepared_statement!(@owned $name, $sql);
    };
    (
        $(#[$doc:meta])* $vis:vis struct $name:ident { $($field_vis:vis $field:ident: $ty:ty),+ $(,)? }
        = $($sql:literal $({$bind:ident: $sql_type:ty})?)+;
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name { $($field_vis $field: $ty),+ }

        prepared_statement!(@owned $name, $($sql $({$bind: $sql_type})?)+);
    };
    (
        $(#[$doc:meta])* $vis:vis struct $name:ident<$lt:lifetime> { $($field_vis:vis $field:ident: $ty:ty),+ $(,)? }
        = $($sql:literal $({$bind:ident: $sql_type:ty})?)+;
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name<$lt> { $($field_vis $field: $ty),+ }

        impl diesel::query_builder::QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        prepared_statement!(@walk $name, ['_], $($sql $({$bind: $sql_type})?)+);
    };
    (@owned $name:ident, $($sql:literal $({$bind:ident: $sql_type:ty})?)+) => {
        impl diesel::query_builder::QueryId for $name {
            type QueryId = $name;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        prepared_statement!(@walk $name, [], $($sql $({$bind: $sql_type})?)+);
    };
    (@walk $name:ident, [$($lt:lifetime)?], $($sql:literal $({$bind:ident: $sql_type:ty})?)+) => {
        prepared_statement!(@backend diesel::sqlite::Sqlite, $name, [$($lt)?], $($sql $({$bind: $sql_type})?)+);
        prepared_statement!(@backend diesel::pg::Pg, $name, [$($lt)?], $($sql $({$bind: $sql_type})?)+);

        impl<Conn> diesel::RunQueryDsl<Conn> for $name<$($lt)?> {}

        impl diesel::query_builder::Query for $name<$($lt)?> {
            type SqlType = diesel::sql_types::Untyped;
        }
    };
    (@backend $db:ty, $name:ident, [$($lt:lifetime)?], $sql:literal) => {
        impl diesel::query_builder::QueryFragment<$db> for $name<$($lt)?> {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, $db>,
            ) -> diesel::QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }
    };
    (@backend $db:ty, $name:ident, [$($lt:lifetime)?], $($sql:literal $({$bind:ident: $sql_type:ty})?)+) => {
        impl diesel::query_builder::QueryFragment<$db> for $name<$($lt)?> {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, $db>,
            ) -> diesel::QueryResult<()> {
                // The binds' SQL types are written as `diesel::sql_types` names.
                use diesel::sql_types::*;
                $(
                    out.push_sql($sql);
                    $(out.push_bind_param::<$sql_type, _>(&self.$bind)?;)?
                )+
                Ok(())
            }
        }
    };
}

pub mod audit_events;
pub mod auth_failures;
mod control;
pub mod customer_subscriptions;
pub mod customers;
mod faults;
mod lock_order;
pub mod oauth_authorization_codes;
pub mod oauth_clients;
pub mod oauth_grants;
pub mod oauth_revoked_access_tokens;
pub mod oauth_signing_keys;
pub mod oauth_token_families;
pub mod schema;
mod stats;
pub mod stripe_connect_states;
pub mod stripe_connections;
pub mod stripe_settings;
pub mod stripe_webhook_events;
pub mod types;
pub mod user_sessions;
pub mod users;
mod writer;

pub use writer::WAL_RESTART_PAGES;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use tracing::Instrument;

use crate::error::{BoxError, Context};
use crate::files;
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Queries written once against this type run on both.
/// Only `db` reaches it, through [`DbConnection`].
#[derive(diesel::MultiConnection)]
pub enum Backend {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// The connection use cases are handed, and `db`'s queries take. Its backend is
/// private to `db`: outside it no SQL can be run on it, and no transaction opened or
/// nested (ADR 0003: one use case, one transaction, which [`Database`] opens).
pub struct DbConnection(Backend);

impl DbConnection {
    /// The raw connection, for tools and tests that inspect or repair the database as an
    /// operator would with `psql` or `sqlite3`, on a connection of their own
    /// ([`ConnectionManager::connect`]); use cases never get one.
    pub fn into_backend(self) -> Backend {
        self.0
    }
}

/// Which database a URL names, decided by its scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path (or `:memory:`, which only the migration tests use).
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    /// Accepted forms: `sqlite://PATH`, `sqlite:PATH`, `postgres://…`, `postgresql://…`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                "expected sqlite://PATH or postgres://USER@HOST:PORT/DATABASE".to_owned()
            })?;
        if path.is_empty() {
            return Err("the sqlite:// URL names no file".to_owned());
        }
        Ok(Self::Sqlite(path.to_owned()))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// Never print a PostgreSQL password.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{path}"),
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    write!(f, "{parsed}")
                }
                Err(_) => f.write_str("postgres://(unparseable)"),
            },
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("could not connect to the database")]
    Connect(#[source] BoxError),
    #[error("could not apply migrations")]
    Migration(#[source] BoxError),
    #[error("no database connection available")]
    Pool(#[from] r2d2::Error),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// The work around a use case failed: its thread could not start or went away, or
    /// what it was to store could not be prepared.
    #[error("database task failed")]
    Task(#[source] BoxError),
    /// An event subscriber (the audit log) could not record an event; the use case
    /// that published it was rolled back.
    #[error("event subscriber {subscriber} failed: {error}")]
    Subscriber {
        subscriber: &'static str,
        error: String,
    },
    /// The transaction a group of writes shared could not commit.
    #[error("the transaction could not commit")]
    Commit(#[source] BoxError),
    /// PostgreSQL cannot be reached: the pool holds no connection and the last attempt
    /// to open one failed, so the use case was not tried (an outage is answered at once
    /// rather than after the pool's wait); or the connection was lost under a use case
    /// that could not be run again.
    #[error("the database cannot be reached")]
    Unavailable(#[source] Unreachable),
}

/// Why the database could not be reached. It is the cause of
/// [`DbError::Unavailable`], so [`unavailable_in`] finds it in an error's chain even
/// through a domain error that wraps a `DbError` transparently (whose `source()` is the
/// `DbError`'s own cause).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

impl DbError {
    pub fn unavailable(why: impl Into<String>) -> Self {
        DbError::Unavailable(Unreachable(why.into()))
    }
}

impl DbError {
    pub fn connect(cause: impl Into<BoxError>) -> Self {
        DbError::Connect(cause.into())
    }

    pub fn migration(cause: impl Into<BoxError>) -> Self {
        DbError::Migration(cause.into())
    }

    pub fn task(cause: impl Into<BoxError>) -> Self {
        DbError::Task(cause.into())
    }

    /// True when the database could not be reached (an outage, a lost connection, a
    /// pool that had no connection to give): the request may succeed later, so it is
    /// answered 503 with `Retry-After` rather than 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Unavailable(_) | DbError::Pool(_) | DbError::Connect(_) => true,
            DbError::Query(error) => {
                matches!(faults::classify(error), Some(faults::Fault::ConnectionLost))
            }
            _ => false,
        }
    }

    /// True when the error is a unique-constraint violation (on either backend).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// When SQLite's commits reach the disk (`PRAGMA synchronous`, `SQLITE_SYNCHRONOUS`).
/// In WAL mode both survive a crash of the process; they differ when the machine loses
/// power or the kernel crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// The WAL is synced (`fsync`) at every commit, before anyone hears of success: a
    /// commit survives power loss. With group commit one sync serves a whole batch.
    #[default]
    Full,
    /// The WAL is synced only at checkpoints: the last commits before a power loss (up
    /// to a checkpoint interval's worth) can be lost, although they were answered.
    Normal,
}

impl Synchronous {
    /// `full` or `normal`, any case.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "full" => Some(Self::Full),
            "normal" => Some(Self::Normal),
            _ => None,
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "PRAGMA synchronous = FULL;",
            Self::Normal => "PRAGMA synchronous = NORMAL;",
        }
    }
}

/// How a [`Database`] is opened.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseOptions {
    /// Connections in the pool (on SQLite, the readers: see [`Database::open`]).
    pub pool_size: u32,
    /// SQLite's durability of a commit; PostgreSQL keeps its own (`synchronous_commit`).
    pub sqlite_synchronous: Synchronous,
}

impl DatabaseOptions {
    pub fn new(pool_size: u32) -> Self {
        Self {
            pool_size,
            sqlite_synchronous: Synchronous::default(),
        }
    }
}

/// True when `error` or one of its causes says the database could not be reached
/// ([`DbError::is_unavailable`]): what the HTTP layer answers with 503 and
/// `Retry-After`, whichever domain error carried it there.
pub fn unavailable_in(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(db) = error.downcast_ref::<DbError>() {
            if db.is_unavailable() {
                return true;
            }
        } else if let Some(query) = error.downcast_ref::<diesel::result::Error>() {
            if matches!(faults::classify(query), Some(faults::Fault::ConnectionLost)) {
                return true;
            }
        } else if error.is::<Unreachable>()
            || error.is::<r2d2::Error>()
            || error.is::<diesel::ConnectionError>()
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// How long a client is told to wait (`Retry-After`) when the database is unavailable.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: i64 = 5;

/// r2d2 manager that chooses the backend from the URL (the derived `establish` would
/// try each backend in turn and let SQLite accept any string as a file name).
pub struct ConnectionManager {
    url: DatabaseUrl,
    read_only: bool,
    synchronous: Synchronous,
    /// Whether the last attempt to open a connection failed (PostgreSQL).
    reachability: Arc<faults::Reachability>,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            url,
            read_only: false,
            synchronous: Synchronous::default(),
            reachability: Arc::default(),
        }
    }

    fn reachability(&self) -> Arc<faults::Reachability> {
        self.reachability.clone()
    }

    /// SQLite's `PRAGMA synchronous` for the connections it opens (FULL unless told).
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// SQLite connections that refuse to write (`PRAGMA query_only`): the readers,
    /// beside the one writing connection of the writer thread.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    pub fn connect(&self) -> Result<DbConnection, DbError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let established = diesel::PgConnection::establish(url);
                self.reachability.connect_attempted(established.is_ok());
                let mut conn = established.map_err(DbError::connect)?;
                // Every statement's failure is seen by the database layer, whatever the
                // use case does with it (see `faults`).
                conn.set_instrumentation(faults::StatementWatch::default());
                Ok(DbConnection(Backend::Postgres(conn)))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn =
                    diesel::SqliteConnection::establish(path).map_err(DbError::connect)?;
                // Per-connection settings; WAL is persistent and set once at migration.
                // Temporary data in memory: the writer's savepoint and statement
                // journals would otherwise spill to a temporary file in every batch.
                // `synchronous` matters on the connections that commit (the writer, the
                // command line) and checkpoint; readers never write.
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA temp_store = MEMORY;",
                )
                .and_then(|()| conn.batch_execute(self.synchronous.pragma()))
                .map_err(DbError::connect)?;
                if self.read_only {
                    conn.batch_execute("PRAGMA query_only = ON;")
                        .map_err(DbError::connect)?;
                }
                Ok(DbConnection(Backend::Sqlite(conn)))
            }
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = DbError;

    fn connect(&self) -> Result<DbConnection, DbError> {
        ConnectionManager::connect(self)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        conn.0.batch_execute("SELECT 1").map_err(DbError::from)
    }

    /// A connection left inside a failed transaction, or whose link to the server was
    /// lost, is not handed out again.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        faults::connection_lost(conn) || diesel::r2d2::R2D2Connection::is_broken(&mut conn.0)
    }
}

/// Undoes every applied migration, newest first (the down migrations' test; an
/// operator's last resort).
pub fn revert_all_migrations(url: &DatabaseUrl) -> Result<(), DbError> {
    let conn = ConnectionManager::new(url.clone()).connect()?;
    match conn.0 {
        Backend::Sqlite(mut c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(drop),
        Backend::Postgres(mut c) => c.revert_all_migrations(POSTGRES_MIGRATIONS).map(drop),
    }
    .map_err(DbError::migration)
}

/// Applies the backend's embedded migrations on a dedicated connection.
pub fn run_migrations(url: &DatabaseUrl) -> Result<Vec<String>, DbError> {
    match url {
        DatabaseUrl::Sqlite(path) if path != ":memory:" => {
            // Owner-only before SQLite opens it: its WAL and shared-memory files take the
            // database file's permissions.
            let path = std::path::Path::new(path);
            files::create_private_parent(path)
                .and_then(|()| files::make_private_file(path))
                .map_err(|e| {
                    DbError::connect(Context::new(format!("cannot create {}", path.display()), e))
                })?;
        }
        _ => {}
    }
    let manager = ConnectionManager::new(url.clone());
    let conn = manager.connect()?;
    let applied = match conn.0 {
        Backend::Sqlite(mut c) => {
            c.batch_execute("PRAGMA journal_mode = WAL;")
                .map_err(DbError::migration)?;
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(DbError::migration)?
                .iter()
                .map(|v| v.to_string())
                .collect()
        }
        Backend::Postgres(mut c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map_err(DbError::migration)?
            .iter()
            .map(|v| v.to_string())
            .collect(),
    };
    Ok(applied)
}

/// What runs after every writing use case that succeeded, on the use case's connection
/// and inside its transaction, with what the use case recorded. What the hook writes
/// commits with the use case's change or not at all, and an error from it rolls both
/// back (the audit line of ADR 0003). The service's event bus (`crate::events`) is the
/// hook; `db` knows only this trait.
pub trait AfterUseCase: Send + Sync + 'static {
    /// What a use case records with [`Tx::publish`].
    type Record: Send + 'static;

    fn after_use_case(
        &self,
        records: &[Self::Record],
        conn: &mut DbConnection,
    ) -> Result<(), DbError>;
}

/// No hook: for tools and tests that write without recording anything.
impl AfterUseCase for () {
    type Record = ();

    fn after_use_case(&self, _: &[()], _: &mut DbConnection) -> Result<(), DbError> {
        Ok(())
    }
}

/// What a writing use case gets: the connection inside its transaction, and a place
/// to record what happened for the [`AfterUseCase`] hook, which runs inside the same
/// transaction once the use case succeeded.
pub struct Tx<'a, R> {
    pub conn: &'a mut DbConnection,
    records: Vec<R>,
}

impl<'a, R> Tx<'a, R> {
    fn new(conn: &'a mut DbConnection) -> Self {
        Self {
            conn,
            records: Vec::new(),
        }
    }

    pub fn publish(&mut self, record: R) {
        self.records.push(record);
    }
}

/// Runs `use_case`, then hands what it recorded to `hook` on the same connection. Used
/// by both backends' write paths, inside their transaction.
fn run_use_case<H, T, E, F>(conn: &mut DbConnection, hook: &H, use_case: F) -> Result<T, E>
where
    H: AfterUseCase,
    F: FnOnce(&mut Tx<'_, H::Record>) -> Result<T, E>,
    E: From<DbError>,
{
    let mut tx = Tx::new(conn);
    let value = use_case(&mut tx)?;
    let records = std::mem::take(&mut tx.records);
    hook.after_use_case(&records, conn).map_err(E::from)?;
    Ok(value)
}

/// What a writing use case returns when it may refuse after writing what the refusal
/// must leave behind (a counted failed secret; the revocations after a replayed code or
/// refresh token): the transaction commits either way, and the refusal is reported
/// after the commit. A use case that returns `Err` instead rolls everything back.
#[must_use]
#[derive(Debug)]
pub enum Committed<T, E> {
    Done(T),
    Refused(E),
}

impl<T, E> Committed<T, E> {
    /// The answer, once the transaction has committed.
    pub fn into_result(self) -> Result<T, E> {
        match self {
            Committed::Done(value) => Ok(value),
            Committed::Refused(error) => Err(error),
        }
    }
}

/// The entry point of every use case.
///
/// - [`Database::read`]: reads only. On SQLite the closure runs on the calling thread
///   (a WAL reader never waits for the writer, and a few indexed lookups cost less
///   than handing them to another thread and back) and sees one snapshot, on a
///   connection opened with `query_only`, so a write there fails loudly. On PostgreSQL
///   it runs on the blocking pool (a network round trip must not stall the event
///   loop) and each statement reads committed data (no transaction, no extra round
///   trips).
/// - [`Database::write`]: one transaction that may read and write. On SQLite every
///   write goes to one writer thread that owns the only writing connection and commits
///   the use cases waiting for it together (group commit): no lock contention, no
///   `SQLITE_BUSY`, one WAL append per batch. On PostgreSQL it is a transaction on a
///   pooled connection.
///
/// Network calls never run inside these closures.
pub struct Database<H> {
    readers: r2d2::Pool<ConnectionManager>,
    hook: Arc<H>,
    url: DatabaseUrl,
    writer: Option<writer::Writer>,
    /// Whether PostgreSQL could be reached at the last attempt to connect.
    reachability: Arc<faults::Reachability>,
}

impl<H> Clone for Database<H> {
    fn clone(&self) -> Self {
        Self {
            readers: self.readers.clone(),
            hook: self.hook.clone(),
            url: self.url.clone(),
            writer: self.writer.clone(),
            reachability: self.reachability.clone(),
        }
    }
}

impl<H: AfterUseCase> Database<H> {
    /// [`Database::open`] with the default options and `pool_size` connections.
    pub fn connect(url: &DatabaseUrl, pool_size: u32, hook: H) -> Result<Self, DbError> {
        Self::open(url, DatabaseOptions::new(pool_size), hook)
    }

    /// Migrates, then builds the pool (checking one connection up front so a bad URL
    /// fails at start, not on the first request) and, on SQLite, starts the writer.
    pub fn open(url: &DatabaseUrl, options: DatabaseOptions, hook: H) -> Result<Self, DbError> {
        let DatabaseOptions {
            pool_size,
            sqlite_synchronous,
        } = options;
        run_migrations(url)?;
        let is_sqlite = matches!(url, DatabaseUrl::Sqlite(_));
        let manager = ConnectionManager::new(url.clone())
            .read_only(is_sqlite)
            .synchronous(sqlite_synchronous);
        let reachability = manager.reachability();
        let readers = r2d2::Pool::builder()
            .max_size(if is_sqlite {
                // Reads run on the request threads (one per core), which must never
                // wait for a connection.
                pool_size.max(cores() + 4)
            } else {
                pool_size
            })
            // Connections are not tested before use: that is a round trip per use case
            // (5–8 % of a PKCE flow's CPU on PostgreSQL, docs/performance.md). A
            // PostgreSQL connection that died with its server is found at its first
            // statement instead, closed, and the use case run again on another one
            // (`faults`); a SQLite file does not die.
            .test_on_check_out(false)
            .connection_timeout(POOL_WAIT)
            .build(manager)?;
        let writer = if is_sqlite {
            let manager = ConnectionManager::new(url.clone()).synchronous(sqlite_synchronous);
            Some(writer::Writer::start(
                manager.connect()?,
                manager.connect()?,
            )?)
        } else {
            None
        };
        Ok(Self {
            readers,
            hook: Arc::new(hook),
            url: url.clone(),
            writer,
            reachability,
        })
    }

    /// A pooled connection. On PostgreSQL, when the pool holds none and the last attempt
    /// to open one failed (the server is down or unreachable), `Unavailable` at once:
    /// every request of an outage would otherwise wait out `wait` for nothing. The pool
    /// keeps trying to connect in the background, and the first success opens the way.
    fn checkout(
        &self,
        wait: Duration,
    ) -> Result<r2d2::PooledConnection<ConnectionManager>, DbError> {
        if self.writer.is_some() {
            return self.readers.get_timeout(wait).map_err(DbError::from);
        }
        // The wait is cut into slices so that a server found down meanwhile (the
        // connections in use died and were closed) ends it early.
        let deadline = std::time::Instant::now() + wait;
        loop {
            if self.readers.state().connections == 0 && !self.reachability.reachable() {
                return Err(DbError::unavailable(
                    "the last attempt to connect failed and the pool holds no connection",
                ));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.readers.get_timeout(left.min(POOL_WAIT_SLICE)) {
                Ok(conn) => return Ok(conn),
                Err(error) if left <= POOL_WAIT_SLICE => return Err(DbError::from(error)),
                Err(_) => {}
            }
        }
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Runs a reading use case (see the type's documentation).
    pub async fn read<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Clone + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let span = use_case_span::<F>("read");
        if self.writer.is_some() {
            return span.in_scope(|| self.read_blocking(use_case));
        }
        let db = self.clone();
        on_blocking_pool(move || db.read_blocking(use_case))
            .instrument(span)
            .await
    }

    /// The synchronous form of [`Database::read`], for the command line.
    pub fn read_blocking<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Clone,
        E: From<DbError>,
    {
        if self.writer.is_none() {
            return self.read_on_pool(use_case);
        }
        let mut conn = self.checkout(POOL_WAIT)?;
        // One snapshot for every statement of the use case. It only read, so ending
        // it with COMMIT or ROLLBACK is the same.
        // The transaction is ended even when the use case panics: the connection goes
        // back to the pool.
        control::run(&mut conn, control::Begin).map_err(DbError::from)?;
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| use_case(&mut conn)));
        if control::run(&mut conn, control::Commit).is_err() {
            let _ = conn.0.batch_execute("ROLLBACK");
        }
        outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Runs a writing use case in one transaction (see the type's documentation).
    /// What the use case records with [`Tx::publish`] is handed to the hook in that
    /// transaction; an error from either rolls everything back.
    pub async fn write<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_, H::Record>) -> Result<T, E> + Clone + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let span = use_case_span::<F>("write");
        match &self.writer {
            Some(writer) => {
                writer
                    .submit(self.hook.clone(), use_case)
                    .instrument(span)
                    .await
            }
            None => {
                let db = self.clone();
                on_blocking_pool(move || db.write_on_pool(use_case))
                    .instrument(span)
                    .await
            }
        }
    }

    /// The synchronous form of [`Database::write`], for the command line and tests.
    pub fn write_blocking<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_, H::Record>) -> Result<T, E> + Clone + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.submit_blocking(self.hook.clone(), use_case),
            None => self.write_on_pool(use_case),
        }
    }

    /// PostgreSQL: a read on a pooled connection, without a transaction (each statement
    /// reads committed data). Run again on another connection when the connection
    /// turned out to be dead (a read has no effect, so a rerun is always safe).
    fn read_on_pool<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Clone,
        E: From<DbError>,
    {
        let mut attempt = 1;
        let mut lost = false;
        loop {
            let mut conn = self.checkout_for(lost)?;
            faults::reset(&mut conn);
            let outcome = use_case.clone()(&mut conn);
            match faults::take(&mut conn) {
                Some(fault) if attempt < faults::MAX_ATTEMPTS => {
                    faults::before_rerun(fault, attempt, "read");
                    lost |= fault == faults::Fault::ConnectionLost;
                    attempt += 1;
                }
                Some(faults::Fault::ConnectionLost) => return Err(E::from(gave_up())),
                _ => return outcome,
            }
        }
    }

    /// A connection for a run: after a lost one, connections are tested before use
    /// (one round trip each) until one answers, since a server that went away took
    /// every idle connection of the pool with it.
    fn checkout_for(
        &self,
        after_lost_connection: bool,
    ) -> Result<r2d2::PooledConnection<ConnectionManager>, DbError> {
        if !after_lost_connection {
            return self.checkout(POOL_WAIT);
        }
        // The pool's connections, and one it opens anew.
        for _ in 0..=self.readers.max_size() {
            let mut conn = self.checkout(POOL_WAIT)?;
            // A failure marks the connection lost (`faults`), so the pool closes it
            // when it is dropped here.
            if conn.0.batch_execute("SELECT 1").is_ok() {
                return Ok(conn);
            }
        }
        Err(DbError::unavailable("no connection of the pool answered"))
    }

    /// PostgreSQL: a transaction on a pooled connection, run again when it rolled back
    /// for a reason a rerun resolves (see `faults`): a serialization failure or a
    /// deadlock (a concurrent transaction won), or a connection found dead before the
    /// commit was sent. A use case is one transaction, so its rerun starts from nothing;
    /// it gets a fresh copy of its inputs (the closure is cloned before each run).
    fn write_on_pool<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_, H::Record>) -> Result<T, E> + Clone,
        E: From<DbError>,
    {
        let mut attempt = 1;
        let mut lost = false;
        loop {
            let mut conn = self.checkout_for(lost)?;
            faults::reset(&mut conn);
            let (outcome, ended) = self.transaction_once(&mut conn, use_case.clone());
            let fault = faults::take(&mut conn);
            match (fault, ended) {
                // Committed: done, whatever was seen on the way.
                (_, Ended::Committed) | (None, _) => return outcome,
                // A connection lost while the commit was under way: it may have
                // committed, and a rerun could apply the use case twice.
                (Some(faults::Fault::ConnectionLost), Ended::InCommit) => {
                    return Err(E::from(DbError::unavailable(
                        "the connection was lost during the commit, which may or may not have taken effect",
                    )))
                }
                (Some(fault), _) if attempt < faults::MAX_ATTEMPTS => {
                    faults::before_rerun(fault, attempt, "write");
                    lost |= fault == faults::Fault::ConnectionLost;
                    attempt += 1;
                }
                (Some(faults::Fault::ConnectionLost), _) => return Err(E::from(gave_up())),
                (Some(_), _) => return outcome,
            }
        }
    }

    /// One run of a writing use case in its own transaction, and how it ended.
    fn transaction_once<T, E, F>(
        &self,
        conn: &mut DbConnection,
        use_case: F,
    ) -> (Result<T, E>, Ended)
    where
        F: FnOnce(&mut Tx<'_, H::Record>) -> Result<T, E>,
        E: From<DbError>,
    {
        type Transactions = <Backend as Connection>::TransactionManager;
        if let Err(error) = Transactions::begin_transaction(&mut conn.0) {
            return (Err(E::from(DbError::from(error))), Ended::RolledBack);
        }
        // A panic leaves the transaction open; the pool then sees the connection as
        // broken (`has_broken`) and closes it, which rolls it back.
        match run_use_case(conn, &*self.hook, use_case) {
            // A transaction that met a fault is rolled back even if the use case went
            // on regardless: PostgreSQL has aborted it, and it is to run again.
            Ok(value) if !faults::seen(conn) => {
                match Transactions::commit_transaction(&mut conn.0) {
                    Ok(()) => (Ok(value), Ended::Committed),
                    Err(error) => (Err(E::from(DbError::from(error))), Ended::InCommit),
                }
            }
            Ok(_) => {
                let _ = Transactions::rollback_transaction(&mut conn.0);
                let error =
                    DbError::task("the transaction met a fault the use case did not return");
                (Err(E::from(error)), Ended::RolledBack)
            }
            Err(error) => {
                // The use case's error is the answer; a failed rollback leaves the
                // connection broken, and the pool closes it.
                let _ = Transactions::rollback_transaction(&mut conn.0);
                (Err(error), Ended::RolledBack)
            }
        }
    }

    /// A cheap round trip, for `/readyz`. It waits at most two seconds for a pooled
    /// connection: a probe must answer sooner than the pool's usual wait.
    pub async fn ping(&self) -> Result<(), DbError> {
        let db = self.clone();
        let ping = move || -> Result<(), DbError> {
            let mut conn = db.checkout(PING_WAIT)?;
            match db.writer {
                // A reader's snapshot, like any read.
                Some(_) => conn.0.batch_execute("BEGIN; SELECT 1; COMMIT")?,
                None => conn.0.batch_execute("SELECT 1")?,
            }
            Ok(())
        };
        if self.writer.is_some() {
            return ping();
        }
        on_blocking_pool(ping).await
    }
}

/// The answer of a use case whose connections were lost on every run: whatever error
/// the use case made of the last failure, the database could not be reached.
fn gave_up() -> DbError {
    DbError::unavailable("the connection was lost on every run of the use case")
}

/// How a transaction ended, for the decision to run it again.
enum Ended {
    /// Never begun, or rolled back: nothing of it remains.
    RolledBack,
    /// The commit was sent and failed: it may have committed if the connection was lost.
    InCommit,
    Committed,
}

/// How long a use case waits for a pooled connection before it is answered "unavailable".
const POOL_WAIT: Duration = Duration::from_secs(10);

/// How often a wait for a PostgreSQL connection looks whether the server went away.
const POOL_WAIT_SLICE: Duration = Duration::from_millis(100);

/// How long `/readyz` waits for one.
const PING_WAIT: Duration = Duration::from_secs(2);

/// The cores this process may use (the number of request threads actix starts).
fn cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

/// The span of one use case, named after the function that wrote its closure (the
/// closure's type name is that function's path): `oauth::token::exchange`. DEBUG, so
/// it costs nothing unless traces are exported (see `telemetry`).
fn use_case_span<F>(access: &'static str) -> tracing::Span {
    tracing::debug_span!(
        "use_case",
        otel.name = use_case_name::<F>(),
        db.access = access
    )
}

/// `bridgekeeper::oauth::token::exchange::{{closure}}` → `oauth::token::exchange`.
fn use_case_name<F>() -> &'static str {
    let name = std::any::type_name::<F>();
    let name = name.strip_prefix("bridgekeeper::").unwrap_or(name);
    let mut name = name;
    while let Some(outer) = name.strip_suffix("::{{closure}}") {
        name = outer;
    }
    name
}

/// Runs `work` on the blocking thread pool, inside the caller's tracing span.
async fn on_blocking_pool<T, E, W>(work: W) -> Result<T, E>
where
    W: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| E::from(DbError::task(e)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_picks_backend_from_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://./data/x.db"),
            Ok(DatabaseUrl::Sqlite("./data/x.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:x.db"),
            Ok(DatabaseUrl::Sqlite("x.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://u@h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn a_use_case_is_named_after_the_function_that_wrote_its_closure() {
        fn name_of<F>(_: &F) -> &'static str {
            use_case_name::<F>()
        }
        let use_case = |_: &mut DbConnection| Ok::<_, DbError>(());
        assert_eq!(
            name_of(&use_case),
            "db::tests::a_use_case_is_named_after_the_function_that_wrote_its_closure"
        );
    }

    #[test]
    fn database_url_hides_password_when_printed() {
        let url = DatabaseUrl::parse("postgres://bob:hunter2@db:5432/bk").expect("valid");
        let shown = url.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("bob"));
    }

    #[test]
    fn sqlite_is_built_to_keep_prepared_statements() {
        // See .cargo/config.toml: without a stable query plan, statements with a bound
        // LIMIT are re-prepared on every execution.
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DatabaseUrl::Sqlite(dir.path().join("options.db").display().to_string());
        let mut conn = ConnectionManager::new(url).connect().expect("connection").0;
        #[derive(QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        let options: Vec<CompileOption> = diesel::sql_query("PRAGMA compile_options")
            .load(&mut conn)
            .expect("compile options");
        assert!(
            options.iter().any(|o| o.compile_options == "ENABLE_QPSG"),
            "SQLite was built without SQLITE_ENABLE_QPSG"
        );
    }

    #[test]
    fn migration_sets_match_in_name_and_count() {
        use std::collections::BTreeSet;
        let names = |dir: &str| -> BTreeSet<String> {
            std::fs::read_dir(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR")))
                .expect("migrations dir")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        };
        let sqlite = names("migrations/sqlite");
        let postgres = names("migrations/postgres");
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, postgres);
    }
}
