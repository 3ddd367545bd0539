//! The one place that talks to the database.
//!
//! Both backends are compiled in; [`DatabaseUrl`] picks one at run time from the URL
//! scheme. Every use case runs through [`Database::run`]: one blocking closure, one
//! transaction, and the domain events it recorded are handed to the subscribers only
//! after that transaction committed.

pub mod audit_events;
pub mod auth_failures;
pub mod customer_subscriptions;
pub mod customers;
pub mod oauth_access_tokens;
pub mod oauth_authorization_codes;
pub mod oauth_clients;
pub mod oauth_grants;
pub mod oauth_refresh_tokens;
pub mod oauth_signing_keys;
pub mod schema;
pub mod stripe_connect_states;
pub mod stripe_connections;
pub mod stripe_settings;
pub mod stripe_webhook_events;
pub mod users;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

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
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
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
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA synchronous = NORMAL;",
                )
                .map_err(|e| DbError::Connect(e.to_string()))?;
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

/// What a use-case closure gets: the connection inside its transaction, and a place to
/// record domain events that are published only if the transaction commits.
pub struct Tx<'a> {
    pub conn: &'a mut DbConnection,
    events: Vec<DomainEvent>,
}

impl Tx<'_> {
    pub fn publish(&mut self, event: DomainEvent) {
        self.events.push(event);
    }
}

/// The pool plus the event bus the committed events go to.
#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<ConnectionManager>,
    bus: Arc<EventBus>,
    url: DatabaseUrl,
}

impl Database {
    /// Migrates, then builds the pool (checking one connection up front so a bad URL
    /// fails at start, not on the first request).
    pub fn connect(url: &DatabaseUrl, pool_size: u32, bus: EventBus) -> Result<Self, DbError> {
        run_migrations(url)?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            // A PostgreSQL connection can die with its server or network, so it is tested
            // before use; a SQLite file cannot, and the test would cost a query per use case.
            .test_on_check_out(matches!(url, DatabaseUrl::Postgres(_)))
            .connection_timeout(Duration::from_secs(10))
            .build(ConnectionManager::new(url.clone()))?;
        Ok(Self {
            pool,
            bus: Arc::new(bus),
            url: url.clone(),
        })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Runs one use case on the blocking pool inside one transaction. Events recorded
    /// with [`Tx::publish`] reach the subscribers after the commit; a rollback drops them.
    pub async fn run<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.on_blocking_pool(move |db| db.run_blocking(use_case))
            .await
    }

    /// The synchronous form of [`Database::run`], for the command line and background tasks.
    pub fn run_blocking<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<DbError>,
    {
        let mut conn = self.pool.get().map_err(DbError::from)?;
        let mut events = Vec::new();
        let outcome = conn.transaction::<T, TxError<E>, _>(|conn| {
            let mut tx = Tx {
                conn,
                events: Vec::new(),
            };
            let value = use_case(&mut tx).map_err(TxError::UseCase)?;
            events = tx.events;
            Ok(value)
        });
        match outcome {
            Ok(value) => {
                self.bus.dispatch(&events, &mut conn);
                Ok(value)
            }
            Err(TxError::UseCase(e)) => Err(e),
            Err(TxError::Db(e)) => Err(E::from(DbError::Query(e))),
        }
    }

    /// Like [`Database::run`], for use cases that read and then write under
    /// contention (claiming a code, rotating a refresh token). On SQLite the
    /// transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock up front
    /// and waits for it (busy timeout) instead of failing with `SQLITE_BUSY` when
    /// another writer committed after its first read. PostgreSQL needs nothing special.
    pub async fn run_write<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.on_blocking_pool(move |db| db.run_write_blocking(use_case))
            .await
    }

    /// Runs `work` on the blocking thread pool, inside the caller's tracing span.
    async fn on_blocking_pool<T, E, W>(&self, work: W) -> Result<T, E>
    where
        W: FnOnce(&Database) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| work(&db)))
            .await
            .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// The synchronous form of [`Database::run_write`].
    pub fn run_write_blocking<T, E, F>(&self, use_case: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<DbError>,
    {
        let mut conn = self.pool.get().map_err(DbError::from)?;
        if !matches!(*conn, DbConnection::Sqlite(_)) {
            drop(conn);
            return self.run_blocking(use_case);
        }
        conn.batch_execute("BEGIN IMMEDIATE")
            .map_err(|e| E::from(DbError::Query(e)))?;
        let mut tx = Tx {
            conn: &mut conn,
            events: Vec::new(),
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| use_case(&mut tx)));
        let events = std::mem::take(&mut tx.events);
        match outcome {
            Ok(Ok(value)) => match conn.batch_execute("COMMIT") {
                Ok(()) => {
                    self.bus.dispatch(&events, &mut conn);
                    Ok(value)
                }
                Err(e) => {
                    let _ = conn.batch_execute("ROLLBACK");
                    Err(E::from(DbError::Query(e)))
                }
            },
            Ok(Err(e)) => {
                let _ = conn.batch_execute("ROLLBACK");
                Err(e)
            }
            Err(panic) => {
                let _ = conn.batch_execute("ROLLBACK");
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|tx| {
            tx.conn.batch_execute("SELECT 1")?;
            Ok::<_, DbError>(())
        })
        .await
    }
}

/// Lets a use case's own error type travel through diesel's transaction, which needs
/// an error it can build from `diesel::result::Error` (for COMMIT/ROLLBACK failures).
enum TxError<E> {
    UseCase(E),
    Db(diesel::result::Error),
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
    fn database_url_hides_password_when_printed() {
        let url = DatabaseUrl::parse("postgres://bob:hunter2@db:5432/bk").expect("valid");
        let shown = url.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("bob"));
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
