//! The database's gauges, read when metrics are scraped rather than kept up to date on
//! every use case: the connection pool's use and, on SQLite, the WAL file's size.

use super::{Database, DatabaseUrl};

impl<H> Database<H> {
    /// Sets the gauges to what this database shows now.
    pub fn record_gauges(&self) {
        let state = self.readers.state();
        let idle = f64::from(state.idle_connections);
        let in_use = f64::from(state.connections.saturating_sub(state.idle_connections));
        metrics::gauge!("bridgekeeper_db_pool_connections", "state" => "idle").set(idle);
        metrics::gauge!("bridgekeeper_db_pool_connections", "state" => "in_use").set(in_use);
        metrics::gauge!("bridgekeeper_db_pool_max_connections")
            .set(f64::from(self.readers.max_size()));
        if let DatabaseUrl::Sqlite(path) = &self.url {
            // No WAL file (before the first write, or after a clean close) is an empty WAL.
            let size = std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len());
            // An f64 holds every size below 2^53 bytes exactly.
            metrics::gauge!("bridgekeeper_sqlite_wal_size_bytes").set(size as f64);
        }
    }
}
