//! Time as a dependency: expiry rules take "now" from a [`Clock`] so tests can move it.

// The clock itself lives in `crates/clock`, which the Stripe emulator shares; the
// product's code names it here, as before.
pub use ::clock::{Clock, ManualClock, SharedClock, SystemClock};

/// Microseconds since the Unix epoch, from the wall clock: for ordering identifiers by
/// when they were made (see `crypto::time_ordered_id`), never for a rule. Rules take
/// their time from a [`Clock`], which tests move by hand.
#[expect(
    clippy::disallowed_methods,
    reason = "the wall clock, for ordering identifiers only, never for a rule"
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
