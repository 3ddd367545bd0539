//! SQLite's single writer with group commit.
//!
//! SQLite lets one connection write at a time. Many connections taking turns pay for
//! the lock (file locks, busy waits, `SQLITE_BUSY` on a stale snapshot) and for one WAL
//! append per transaction. Instead, one thread owns the only writing connection: it
//! takes the next use case from a queue, opens `BEGIN IMMEDIATE`, runs it, then runs
//! every other use case already waiting, each in its own savepoint, and commits them
//! together. A use case that fails is rolled back alone (the first one with the whole
//! transaction, which holds nothing else yet; the others to their savepoint); the
//! others are unaffected. Nobody hears of success before the commit that makes it
//! durable.
//!
//! The use cases run one after another, so each sees the writes of those before it
//! (serial execution), and none can race another.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use diesel::connection::SimpleConnection;
use tokio::sync::oneshot;

use super::{control, run_use_case, AfterUseCase, DbConnection, DbError, Tx};
use crate::error::Context;

/// The most use cases one commit carries; bounds the latency a batch adds.
const MAX_BATCH: usize = 128;

/// The least time between two checkpoints: commits in between are copied together, so
/// a page rewritten by many commits (the end of an index, the last audit page) is
/// copied once, and each pass pays its two `fsync`s once. Under load the WAL grows by
/// a few hundred pages in this time, far below [`WAL_RESTART_PAGES`].
const CHECKPOINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// WAL pages after which the WAL is made to start over (SQLite's automatic checkpoint
/// comes after 1,000 pages, 4 MiB).
pub const WAL_RESTART_PAGES: u32 = 4_000;

/// WAL pages after which the writer checkpoints after its own commit, should the
/// checkpointer not have got round to it.
const WAL_BACKSTOP_PAGES: u32 = 2 * WAL_RESTART_PAGES;

/// The writer's page cache in KiB (SQLite's default is 2,000). Its cache is the one
/// that lasts: a reader's is emptied whenever another connection committed.
const WRITER_CACHE_KIB: u32 = 8 * 1024;

/// What the WAL file is cut back to after it starts over, if it ever grew beyond.
const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// A handle to the writer thread; clones share it. The thread ends when the last
/// handle is dropped, and the checkpointer thread with it.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer on `conn` and a checkpointer on `checkpoints`, a second
    /// connection to the same file.
    pub(super) fn start(
        mut conn: DbConnection,
        checkpoints: DbConnection,
    ) -> Result<Self, DbError> {
        // The checkpointer copies pages in the background, and the writer makes the
        // WAL start over when asked (see `checkpoint_after_commits`), so no commit
        // waits for pages to be copied. SQLite's automatic checkpoint stays as the
        // backstop, at twice the restart size: on a machine so loaded that the
        // checkpointer thread does not get to run, the writer copies the pages itself
        // and its next transaction starts the WAL over.
        conn.0
            .batch_execute(&format!(
                "PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}; \
             PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}; \
             PRAGMA cache_size = -{WRITER_CACHE_KIB};"
            ))
            .map_err(DbError::connect)?;
        let (jobs, queue) = mpsc::channel();
        // The writer tells the checkpointer that it committed; a full channel means
        // the checkpointer has yet to look, and that is all it needs to know.
        let (committed, commits) = mpsc::sync_channel::<()>(1);
        let restart_due = Arc::new(AtomicBool::new(false));
        let wal = WalUpkeep {
            committed,
            restart_due: restart_due.clone(),
        };
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_after_commits(checkpoints, &commits, &restart_due))
            .map_err(|e| DbError::task(Context::new("cannot start the SQLite checkpointer", e)))?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(conn, &queue, &wal))
            .map_err(|e| DbError::task(Context::new("cannot start the SQLite writer", e)))?;
        Ok(Self { jobs })
    }

    pub(super) async fn submit<H, T, E, F>(&self, hook: Arc<H>, use_case: F) -> Result<T, E>
    where
        H: AfterUseCase,
        F: FnOnce(&mut Tx<'_, H::Record>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let answer = self.enqueue(hook, use_case)?;
        answer.await.unwrap_or_else(|_| Err(abandoned()))
    }

    pub(super) fn submit_blocking<H, T, E, F>(&self, hook: Arc<H>, use_case: F) -> Result<T, E>
    where
        H: AfterUseCase,
        F: FnOnce(&mut Tx<'_, H::Record>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let answer = self.enqueue(hook, use_case)?;
        answer.blocking_recv().unwrap_or_else(|_| Err(abandoned()))
    }

    fn enqueue<H, T, E, F>(
        &self,
        hook: Arc<H>,
        use_case: F,
    ) -> Result<oneshot::Receiver<Result<T, E>>, E>
    where
        H: AfterUseCase,
        F: FnOnce(&mut Tx<'_, H::Record>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            hook,
            use_case: Some(use_case),
            outcome: None,
            reply,
            span: tracing::Span::current(),
            queued_at: Instant::now(),
        });
        self.jobs
            .send(job)
            .map_err(|_| E::from(DbError::task("the SQLite writer has stopped")))?;
        Ok(answer)
    }
}

/// The answer channel closed without an answer: the use case panicked.
fn abandoned<E: From<DbError>>() -> E {
    E::from(DbError::task("the use case panicked"))
}

/// Why a batch's transaction was lost, shared by every use case in it.
type BatchError = Arc<diesel::result::Error>;

/// One queued use case, type-erased for the queue.
trait Job: Send {
    /// Runs the use case (and the hook after it) on the writer's connection; true when
    /// its changes are to be kept.
    fn run(&mut self, conn: &mut DbConnection) -> bool;

    /// Sends the answer once the transaction's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), BatchError>);
}

struct Pending<H, F, T, E> {
    /// The database's hook, carried by each job so the writer need not know its type.
    hook: Arc<H>,
    use_case: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
    /// The caller's tracing span (its use case's, or its request's), so the use case
    /// logs, and is traced, where the request is.
    span: tracing::Span,
    /// When the caller queued it: the wait for the writer is a metric.
    queued_at: Instant,
}

impl<H, F, T, E> Job for Pending<H, F, T, E>
where
    H: AfterUseCase,
    F: FnOnce(&mut Tx<'_, H::Record>) -> Result<T, E> + Send,
    T: Send,
    E: From<DbError> + Send,
{
    fn run(&mut self, conn: &mut DbConnection) -> bool {
        let Some(use_case) = self.use_case.take() else {
            return false;
        };
        metrics::histogram!("bridgekeeper_sqlite_write_queue_wait_seconds")
            .record(self.queued_at.elapsed().as_secs_f64());
        let hook = &*self.hook;
        let outcome = self.span.in_scope(|| run_use_case(conn, hook, use_case));
        let keep = outcome.is_ok();
        self.outcome = Some(outcome);
        keep
    }

    fn finish(self: Box<Self>, commit: Result<(), BatchError>) {
        let answer = match (self.outcome, commit) {
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(cause)) => Err(E::from(DbError::Commit(Box::new(cause)))),
            (Some(Err(error)), _) => Err(error),
            (None, _) => Err(abandoned()),
        };
        // The caller may have gone away (a dropped request); nothing to tell then.
        let _ = self.reply.send(answer);
    }
}

/// The checkpointer thread: after commits, at most every [`CHECKPOINT_PAUSE`], until
/// the writer is gone, a passive checkpoint copies what was committed back into the
/// database file without waiting for, or blocking, the writer or a reader.
///
/// A passive checkpoint cannot make the WAL start over while writes keep coming (each
/// pass ends with newer frames left), and the WAL would grow without bound. So once
/// it holds more than [`WAL_RESTART_PAGES`], the checkpointer asks the writer for a
/// RESTART checkpoint between two batches (see [`WalUpkeep`]): only the writer can
/// find a moment with no commit under way, and by then the passive passes have copied
/// all but the last few frames, so the pause is short.
fn checkpoint_after_commits(
    mut conn: DbConnection,
    commits: &mpsc::Receiver<()>,
    restart_due: &AtomicBool,
) {
    while commits.recv().is_ok() {
        if restart_due.load(Ordering::Relaxed) {
            // The writer's restart checkpoint is next; a pass now would only make it
            // find the checkpoint lock taken.
            std::thread::sleep(CHECKPOINT_PAUSE);
            continue;
        }
        match checkpoint(&mut conn, Checkpoint::Passive) {
            Ok(outcome) if outcome.log > i64::from(WAL_RESTART_PAGES) => {
                restart_due.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "WAL checkpoint failed; the next one will retry");
            }
        }
        std::thread::sleep(CHECKPOINT_PAUSE);
    }
}

/// What the writer does for the WAL between batches.
struct WalUpkeep {
    /// Tells the checkpointer that something was committed (a full channel means it
    /// has yet to look, which is all it needs to know).
    committed: mpsc::SyncSender<()>,
    /// Set by the checkpointer when the WAL should start over.
    restart_due: Arc<AtomicBool>,
}

impl WalUpkeep {
    fn after_commit(&self) {
        let _ = self.committed.try_send(());
    }

    fn between_batches(&self, conn: &mut DbConnection) {
        if !self.restart_due.load(Ordering::Relaxed) {
            return;
        }
        match checkpoint(conn, Checkpoint::Restart) {
            Ok(outcome) if outcome.busy == 0 => self.restart_due.store(false, Ordering::Relaxed),
            // A reader or the checkpointer was in the way: again after the next batch.
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "WAL restart checkpoint failed; the next one will retry");
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Checkpoint {
    Passive,
    Restart,
}

#[derive(diesel::QueryableByName)]
struct CheckpointOutcome {
    /// 1 when the checkpoint could not finish (a lock was taken).
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    /// Frames in the WAL.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
}

fn checkpoint(conn: &mut DbConnection, mode: Checkpoint) -> diesel::QueryResult<CheckpointOutcome> {
    use diesel::RunQueryDsl;
    let (sql, label) = match mode {
        Checkpoint::Passive => ("PRAGMA wal_checkpoint(PASSIVE)", "passive"),
        Checkpoint::Restart => ("PRAGMA wal_checkpoint(RESTART)", "restart"),
    };
    let started = Instant::now();
    let outcome = diesel::sql_query(sql).get_result(&mut conn.0);
    metrics::histogram!("bridgekeeper_sqlite_checkpoint_duration_seconds", "mode" => label)
        .record(started.elapsed().as_secs_f64());
    outcome
}

/// The writer thread: one batch per turn until every handle is gone.
fn serve(mut conn: DbConnection, queue: &mpsc::Receiver<Box<dyn Job>>, wal: &WalUpkeep) {
    while let Ok(first) = queue.recv() {
        wal.between_batches(&mut conn);
        // Let the request threads that woke us queue what they have before the batch
        // starts: under load, one commit then carries many use cases (when nothing
        // else is runnable this returns at once).
        std::thread::yield_now();
        let mut batch = Vec::new();
        let commit = run_batch(&mut conn, first, queue, &mut batch);
        // At most MAX_BATCH: exact as an f64.
        metrics::histogram!("bridgekeeper_sqlite_write_batch_size").record(batch.len() as f64);
        if commit.is_ok() {
            wal.after_commit();
        } else {
            let _ = conn.0.batch_execute("ROLLBACK");
            tracing::error!(error = ?commit, jobs = batch.len(), "a group of writes could not commit");
        }
        for job in batch {
            job.finish(commit.clone());
        }
    }
}

/// Runs `first` and whatever else is waiting, up to [`MAX_BATCH`], in one
/// transaction, and commits it. `Err` means the transaction was lost (an I/O error, a
/// full disk): every job of the batch shares that fate.
fn run_batch(
    conn: &mut DbConnection,
    mut first: Box<dyn Job>,
    queue: &mpsc::Receiver<Box<dyn Job>>,
    batch: &mut Vec<Box<dyn Job>>,
) -> Result<(), BatchError> {
    control::run(conn, control::BeginImmediate).map_err(Arc::new)?;
    // The first use case needs no savepoint: when it fails, the transaction holds
    // nothing else, so rolling all of it back undoes exactly that use case. (A
    // savepoint copies every page its use case touches into a sub-journal.)
    let kept = run_guarded(conn, first.as_mut());
    batch.push(first);
    if !kept {
        return conn.0.batch_execute("ROLLBACK").map_err(Arc::new);
    }
    while batch.len() < MAX_BATCH {
        let Ok(mut job) = queue.try_recv() else {
            break;
        };
        let outcome = run_in_savepoint(conn, job.as_mut());
        batch.push(job);
        outcome?;
    }
    control::run(conn, control::Commit).map_err(Arc::new)
}

/// Runs one job; a panic counts as a failure (and is logged).
fn run_guarded(conn: &mut DbConnection, job: &mut dyn Job) -> bool {
    catch_unwind(AssertUnwindSafe(|| job.run(conn))).unwrap_or_else(|_| {
        tracing::error!("a use case panicked in the SQLite writer; it was rolled back");
        false
    })
}

/// Runs one job in its own savepoint: released when the job succeeded, rolled back
/// (the job alone) when it failed or panicked. `Err` means the enclosing transaction
/// is gone.
fn run_in_savepoint(conn: &mut DbConnection, job: &mut dyn Job) -> Result<(), BatchError> {
    control::run(conn, control::Savepoint).map_err(Arc::new)?;
    if run_guarded(conn, job) {
        control::run(conn, control::Release)
    } else {
        conn.0
            .batch_execute("ROLLBACK TO use_case; RELEASE use_case")
    }
    .map_err(Arc::new)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use diesel::prelude::*;

    use crate::db::schema::auth_failures;
    use crate::db::{DatabaseUrl, DbError};

    type Database = crate::db::Database<()>;

    fn database() -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DatabaseUrl::Sqlite(dir.path().join("writer.db").display().to_string());
        (Database::connect(&url, 2, ()).expect("database"), dir)
    }

    fn insert_row(conn: &mut crate::db::DbConnection, subject: &str) -> QueryResult<()> {
        crate::db::auth_failures::record(conn, "test", subject, 0)
    }

    fn subjects(db: &Database) -> Vec<String> {
        db.read_blocking(|conn| {
            Ok::<_, DbError>(
                auth_failures::table
                    .select(auth_failures::subject)
                    .order(auth_failures::subject.asc())
                    .load(&mut conn.0)?,
            )
        })
        .expect("rows")
    }

    #[test]
    fn a_failing_use_case_rolls_back_alone_while_others_in_flight_commit() {
        let (db, _dir) = database();
        let start = Arc::new(Barrier::new(12));
        let writers: Vec<_> = (0..12)
            .map(|i| {
                let (db, start) = (db.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    db.write_blocking(move |tx| {
                        insert_row(tx.conn, &format!("s{i:02}"))?;
                        if i % 3 == 0 {
                            return Err(DbError::task(format!("use case {i} refuses")));
                        }
                        Ok(i)
                    })
                })
            })
            .collect();
        let outcomes: Vec<_> = writers
            .into_iter()
            .map(|w| w.join().expect("thread"))
            .collect();
        for (i, outcome) in outcomes.iter().enumerate() {
            assert_eq!(outcome.is_ok(), i % 3 != 0, "use case {i}: {outcome:?}");
        }
        let expected: Vec<String> = (0..12)
            .filter(|i| i % 3 != 0)
            .map(|i| format!("s{i:02}"))
            .collect();
        assert_eq!(subjects(&db), expected);
    }

    #[test]
    fn a_panicking_use_case_is_an_error_and_the_writer_goes_on() {
        let (db, _dir) = database();
        let panicked: Result<(), DbError> = db.write_blocking(|tx| {
            insert_row(tx.conn, "lost")?;
            panic!("a bug in a use case");
        });
        assert!(matches!(panicked, Err(DbError::Task(_))), "{panicked:?}");
        db.write_blocking(|tx| Ok::<_, DbError>(insert_row(tx.conn, "kept")?))
            .expect("the next use case runs");
        assert_eq!(subjects(&db), vec!["kept".to_owned()]);
    }

    /// The `synchronous` the writer's connection runs with (0 OFF, 1 NORMAL, 2 FULL).
    fn writer_synchronous(db: &Database) -> i32 {
        #[derive(QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            synchronous: i32,
        }
        db.write_blocking(|tx| {
            let setting: Setting =
                diesel::sql_query("PRAGMA synchronous").get_result(&mut tx.conn.0)?;
            Ok::<_, DbError>(setting.synchronous)
        })
        .expect("pragma")
    }

    #[test]
    fn the_writer_syncs_every_commit_unless_told_normal() {
        let (db, _dir) = database();
        assert_eq!(writer_synchronous(&db), 2, "FULL by default");

        let dir = tempfile::tempdir().expect("tempdir");
        let url = DatabaseUrl::Sqlite(dir.path().join("normal.db").display().to_string());
        let options = crate::db::DatabaseOptions {
            pool_size: 2,
            sqlite_synchronous: crate::db::Synchronous::Normal,
        };
        let db = Database::open(&url, options, ()).expect("database");
        assert_eq!(writer_synchronous(&db), 1, "NORMAL when asked");
    }

    #[test]
    fn readers_cannot_write() {
        let (db, _dir) = database();
        let outcome = db.read_blocking(|conn| Ok::<_, DbError>(insert_row(conn, "nope")?));
        assert!(
            outcome.is_err(),
            "a read-only connection refused the insert"
        );
        assert!(subjects(&db).is_empty());
    }
}
