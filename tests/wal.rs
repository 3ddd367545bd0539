//! The SQLite WAL under a steady stream of writes. A passive checkpoint can never make
//! the WAL start over while commits keep coming (each pass leaves newer frames behind),
//! so without the writer's restart it would grow for as long as the writes last.
//!
//! It is a test binary of its own: the restart depends on the checkpointer thread
//! getting CPU, which a hundred unit tests running alongside on two cores can deny it
//! for longer than this test takes.

use bridgekeeper::db::audit_events::{self, NewAuditEvent};
use bridgekeeper::db::{Database, DatabaseUrl, DbError, WAL_RESTART_PAGES};

#[test]
fn the_wal_starts_over_while_writes_keep_coming() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = DatabaseUrl::Sqlite(dir.path().join("wal.db").display().to_string());
    let db = Database::connect(&url, 2, ()).expect("database");
    let wal = dir.path().join("wal.db-wal");
    let limit = u64::from(WAL_RESTART_PAGES) * 4096;
    // Five times the restart size, in rows of 64 KiB, with a read after each write. A
    // WAL that never started over would end up larger than all of it.
    let detail = "x".repeat(64 * 1024);
    let rows = 5 * limit / (64 * 1024);
    let mut largest = 0;
    for i in 0..rows {
        let detail = detail.clone();
        db.write_blocking(move |tx| {
            let event = NewAuditEvent {
                occurred_at: i64::try_from(i).unwrap_or_default(),
                actor_user_id: None,
                actor_label: None,
                ip: None,
                action: "test.bulk",
                detail: &detail,
            };
            Ok::<_, DbError>(audit_events::insert(tx.conn, &event)?)
        })
        .expect("written");
        let read = db.read_blocking(|conn| Ok::<_, DbError>(audit_events::list(conn, None, 1)?));
        assert_eq!(read.expect("read").len(), 1);
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    assert!(
        largest < 3 * limit,
        "the WAL grew to {largest} bytes; it should start over near {limit}"
    );
}
