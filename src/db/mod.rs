//! The one place that talks to the database.
//!
//! Both backends are compiled in; [`DatabaseUrl`] picks one at run time from the URL
//! scheme. Every use case runs through [`Database::read`] or [`Database::write`]: one
//! blocking closure, one transaction; the domain events a write recorded are handed to
//! the subscribers inside that transaction.

/// Runs a query on the concrete connection of either backend. Every query in `db/`
/// goes through it: the multi-backend connection renders a query's SQL text anew on
/// every execution (even when the statement is cached), while the concrete connection
/// finds its prepared statement by the query's type. It also expresses what the
/// multi-backend connection cannot (`ON CONFLICT`, `FOR UPDATE`). The body is pasted
/// into each arm, so a query that names its backend (`as_select()`) is typed per arm.
macro_rules! on_each_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            $crate::db::DbConnection::Postgres($c) => $body,
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
    (@backend $db:ty, $name:ident, [$($lt:lifetime)?], $($sql:literal $({$bind:ident: $sql_type:ty})?)+) => {
        impl diesel::query_builder::QueryFragment<$db> for $name<$($lt)?> {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, $db>,
            ) -> diesel::QueryResult<()> {
                #[allow(unused_imports)]
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
pub mod users;
mod writer;

pub use writer::WAL_RESTART_PAGES;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use tracing::Instrument;

use crate::events::{DomainEvent, EventBus};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Queries written once against this type run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
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
    #[error("could not connect to the database: {0}")]
    Connect(String),
    #[error("could not apply migrations: {0}")]
    Migration(String),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("database task failed: {0}")]
    Task(String),
    /// An event subscriber (the audit log) could not record an event; the use case
    /// that published it was rolled back.
    #[error("event subscriber {subscriber} failed: {error}")]
    Subscriber {
        subscriber: &'static str,
        error: String,
    },
    /// The transaction a group of writes shared could not commit.
    #[error("the transaction could not commit: {0}")]
    Commit(String),
}

impl DbError {
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

/// r2d2 manager that chooses the backend from the URL (the derived `establish` would
/// try each backend in turn and let SQLite accept any string as a file name).
pub struct ConnectionManager {
    url: DatabaseUrl,
    read_only: bool,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            url,
            read_only: false,
        }
    }

    /// SQLite connections that refuse to write (`PRAGMA query_only`): the readers,
    /// beside the one writing connection of the writer thread.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    fn connect(&self) -> Result<DbConnection, DbError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => diesel::PgConnection::establish(url)
                .map(DbConnection::Postgres)
                .map_err(|e| DbError::Connect(e.to_string())),
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path)
                    .map_err(|e| DbError::Connect(e.to_string()))?;
                // Per-connection settings; WAL is persistent and set once at migration.
                // Temporary data in memory: the writer's savepoint and statement
                // journals would otherwise spill to a temporary file in every batch.
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;",
                )
                .map_err(|e| DbError::Connect(e.to_string()))?;
                if self.read_only {
                    conn.batch_execute("PRAGMA query_only = ON;")
                        .map_err(|e| DbError::Connect(e.to_string()))?;
                }
                Ok(DbConnection::Sqlite(conn))
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
        conn.batch_execute("SELECT 1").map_err(DbError::from)
    }

    /// A connection left inside a failed transaction is not handed out again.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Applies the backend's embedded migrations on a dedicated connection.
pub fn run_migrations(url: &DatabaseUrl) -> Result<Vec<String>, DbError> {
    if let DatabaseUrl::Sqlite(path) = url {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    DbError::Connect(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
    }
    let manager = ConnectionManager::new(url.clone());
    let conn = manager.connect()?;
    let applied = match conn {
        DbConnection::Sqlite(mut c) => {
            c.batch_execute("PRAGMA journal_mode = WAL;")
                .map_err(|e| DbError::Migration(e.to_string()))?;
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| DbError::Migration(e.to_string()))?
                .iter()
                .map(|v| v.to_string())
                .collect()
        }
        DbConnection::Postgres(mut c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map_err(|e| DbError::Migration(e.to_string()))?
            .iter()
            .map(|v| v.to_string())
            .collect(),
    };
    Ok(applied)
}

/// What a writing use case gets: the connection inside its transaction, and a place
/// to record domain events. The events reach the subscribers (the audit log) inside the
/// same transaction, after the use case succeeded: the change and its audit line commit
/// together or not at all.
pub struct Tx<'a> {
    pub conn: &'a mut DbConnection,
    events: Vec<DomainEvent>,
}

impl<'a> Tx<'a> {
    fn new(conn: &'a mut DbConnection) -> Self {
        Self {
            conn,
            events: Vec::new(),
        }
    }

    pub fn publish(&mut self, event: DomainEvent) {
        self.events.push(event);
    }

    /// Runs `use_case`, then hands its events to the subscribers on the same
    /// connection. Used by both backends' write paths, inside their transaction.
    fn run_use_case<T, E, F>(conn: &mut DbConnection, bus: &EventBus, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<DbError>,
    {
        let mut tx = Tx::new(conn);
        let value = use_case(&mut tx)?;
        let events = std::mem::take(&mut tx.events);
        bus.dispatch(&events, conn).map_err(E::from)?;
        Ok(value)
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
#[derive(Clone)]
pub struct Database {
    readers: r2d2::Pool<ConnectionManager>,
    bus: Arc<EventBus>,
    url: DatabaseUrl,
    writer: Option<writer::Writer>,
}

impl Database {
    /// Migrates, then builds the pool (checking one connection up front so a bad URL
    /// fails at start, not on the first request) and, on SQLite, starts the writer.
    pub fn connect(url: &DatabaseUrl, pool_size: u32, bus: EventBus) -> Result<Self, DbError> {
        run_migrations(url)?;
        let is_sqlite = matches!(url, DatabaseUrl::Sqlite(_));
        let readers = r2d2::Pool::builder()
            .max_size(if is_sqlite {
                // Reads run on the request threads (one per core), which must never
                // wait for a connection.
                pool_size.max(cores() + 4)
            } else {
                pool_size
            })
            // A PostgreSQL connection can die with its server or network, so it is tested
            // before use; a SQLite file cannot, and the test would cost a query per use case.
            .test_on_check_out(!is_sqlite)
            .connection_timeout(Duration::from_secs(10))
            .build(ConnectionManager::new(url.clone()).read_only(is_sqlite))?;
        let bus = Arc::new(bus);
        let writer = if is_sqlite {
            let manager = ConnectionManager::new(url.clone());
            Some(writer::Writer::start(
                manager.connect()?,
                manager.connect()?,
                bus.clone(),
            )?)
        } else {
            None
        };
        Ok(Self {
            readers,
            bus,
            url: url.clone(),
            writer,
        })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Runs a reading use case (see the type's documentation).
    pub async fn read<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
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
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<DbError>,
    {
        let mut conn = self.readers.get().map_err(DbError::from)?;
        if let DbConnection::Postgres(_) = &*conn {
            return use_case(&mut conn);
        }
        // One snapshot for every statement of the use case. It only read, so ending
        // it with COMMIT or ROLLBACK is the same.
        // The transaction is ended even when the use case panics: the connection goes
        // back to the pool.
        control::run(&mut conn, control::Begin).map_err(DbError::from)?;
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| use_case(&mut conn)));
        if control::run(&mut conn, control::Commit).is_err() {
            let _ = conn.batch_execute("ROLLBACK");
        }
        outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Runs a writing use case in one transaction (see the type's documentation).
    /// Events recorded with [`Tx::publish`] are handed to the subscribers in that
    /// transaction; an error from the use case rolls everything back.
    pub async fn write<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let span = use_case_span::<F>("write");
        match &self.writer {
            Some(writer) => writer.submit(use_case).instrument(span).await,
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
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.submit_blocking(use_case),
            None => self.write_on_pool(use_case),
        }
    }

    /// PostgreSQL: a transaction on a pooled connection.
    fn write_on_pool<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<DbError>,
    {
        let mut conn = self.readers.get().map_err(DbError::from)?;
        let bus = &self.bus;
        conn.transaction::<T, TxError<E>, _>(|conn| {
            Tx::run_use_case(conn, bus, use_case).map_err(TxError::UseCase)
        })
        .map_err(TxError::into_use_case_error)
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.read(|conn| Ok(conn.batch_execute("SELECT 1")?)).await
    }
}

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
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
}

/// Lets a use case's own error type travel through diesel's transaction, which needs
/// an error it can build from `diesel::result::Error` (for COMMIT/ROLLBACK failures).
enum TxError<E> {
    UseCase(E),
    Db(diesel::result::Error),
}

impl<E: From<DbError>> TxError<E> {
    fn into_use_case_error(self) -> E {
        match self {
            TxError::UseCase(e) => e,
            TxError::Db(e) => E::from(DbError::Query(e)),
        }
    }
}

impl<E> From<diesel::result::Error> for TxError<E> {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
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
        let mut conn = ConnectionManager::new(url).connect().expect("connection");
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
