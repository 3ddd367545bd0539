//! Which browser origins may call the token and revocation endpoints and `/api/`: those
//! a client registered, matched exactly (scheme, host and port, as the browser sends
//! `Origin`). The authorization endpoint never answers CORS (R8).
//!
//! Every request that carries an `Origin` asks, so the registered origins are kept in
//! memory: one read of every client's origins builds the map, which this instance
//! drops whenever one of its use cases registers or deletes a client, and which is
//! read again once it is [`STALE_AFTER_SECONDS`] old, so that a change made by another
//! instance (or the command line) takes effect there within that bound. Between two
//! reads, an unknown origin (any string a browser, or anybody, sends) costs a hash
//! lookup and no query.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::db::{oauth_clients, DbError};
use crate::events::Database;

/// How long another instance's client change may take to reach this one.
pub const STALE_AFTER_SECONDS: i64 = 5;

/// The registered origins, by origin: the clients that registered each.
struct Snapshot {
    read_at: i64,
    clients_by_origin: HashMap<String, HashSet<String>>,
}

impl Snapshot {
    fn build(read_at: i64, rows: Vec<(String, String)>) -> Self {
        let mut clients_by_origin: HashMap<String, HashSet<String>> = HashMap::new();
        for (client_id, origins) in rows {
            for origin in origins.split(' ').filter(|o| !o.is_empty()) {
                clients_by_origin
                    .entry(origin.to_owned())
                    .or_default()
                    .insert(client_id.clone());
            }
        }
        Self {
            read_at,
            clients_by_origin,
        }
    }

    fn allows(&self, origin: &str, client_id: Option<&str>) -> bool {
        match (self.clients_by_origin.get(origin), client_id) {
            (Some(clients), Some(client_id)) => clients.contains(client_id),
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// This instance's copy of the registered origins (see the module's documentation).
#[derive(Default)]
pub struct CorsOrigins {
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Counts invalidations, so that a read that began before one is not kept after it.
    generation: AtomicU64,
}

impl CorsOrigins {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether some client registered `origin` (for `/api/` and preflights).
    pub async fn any_client_allows(
        &self,
        db: &Database,
        origin: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        Ok(self.current(db, now).await?.allows(origin, None))
    }

    /// Whether the client `client_id` registered `origin` (for its token and revocation
    /// answers).
    pub async fn client_allows(
        &self,
        db: &Database,
        client_id: &str,
        origin: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        Ok(self.current(db, now).await?.allows(origin, Some(client_id)))
    }

    /// Drops the copy: the next question reads the clients again. Called after a
    /// client change has committed (before, a concurrent read could cache the old
    /// state).
    pub fn invalidate(&self) {
        if let Ok(mut snapshot) = self.snapshot.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            *snapshot = None;
        }
    }

    async fn current(&self, db: &Database, now: i64) -> Result<Arc<Snapshot>, DbError> {
        let cached = self.snapshot.read().ok().and_then(|s| s.clone());
        if let Some(snapshot) = cached.filter(|s| now - s.read_at < STALE_AFTER_SECONDS) {
            return Ok(snapshot);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let rows = db
            .read(|conn| Ok::<_, DbError>(oauth_clients::cors_origins(conn)?))
            .await?;
        let snapshot = Arc::new(Snapshot::build(now, rows));
        if let Ok(mut slot) = self.snapshot.write() {
            // An invalidation during the read may mean the rows predate a change.
            if self.generation.load(Ordering::Acquire) == generation {
                *slot = Some(snapshot.clone());
            }
        }
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot::build(
            0,
            vec![
                (
                    "spa".into(),
                    "https://app.example.com http://localhost:5173".into(),
                ),
                ("other".into(), "https://other.example".into()),
            ],
        )
    }

    #[test]
    fn an_origin_matches_only_exactly() {
        let s = snapshot();
        assert!(s.allows("https://app.example.com", None));
        for near_miss in [
            "https://app.example.com/",
            "https://app.example.co",
            "http://app.example.com",
            "https://app.example.com:443",
            "https://APP.example.com",
            "app.example.com",
            "%",
            "",
        ] {
            assert!(!s.allows(near_miss, None), "{near_miss:?}");
        }
    }

    #[test]
    fn a_client_is_allowed_only_its_own_origins() {
        let s = snapshot();
        assert!(s.allows("http://localhost:5173", Some("spa")));
        assert!(!s.allows("https://other.example", Some("spa")));
        assert!(s.allows("https://other.example", Some("other")));
        assert!(!s.allows("https://app.example.com", Some("unknown")));
    }
}
