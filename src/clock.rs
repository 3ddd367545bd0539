//! Time as a dependency: expiry rules take "now" from a [`Clock`] so tests can move it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub trait Clock: Send + Sync + 'static {
    /// Unix time in seconds.
    fn now(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that reads the wall clock for rules"
    )]
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock that tests set and advance by hand. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn starting_at(unix_seconds: i64) -> Self {
        Self(Arc::new(AtomicI64::new(unix_seconds)))
    }

    /// Starts at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::starting_at(SystemClock.now())
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// Microseconds since the Unix epoch, from the wall clock: for ordering identifiers by
/// when they were made (see `crypto::time_ordered_id`), never for a rule. Rules take
/// their time from a [`Clock`], which tests move by hand.
#[expect(
    clippy::disallowed_methods,
    reason = "the wall clock on purpose: identifiers are ordered by when they were made"
)]
pub fn unix_micros() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    now.unix_timestamp() * 1_000_000 + i64::from(now.microsecond())
}

/// RFC 3339 in UTC, for pages and JSON.
pub fn rfc3339(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix_seconds.to_string())
}

/// "2026-11-22 05:47 UTC", for people.
pub fn human(unix_seconds: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| unix_seconds.to_string())
}
