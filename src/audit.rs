//! The audit log: the first subscriber of the event bus, and its reading side for admins.

use std::borrow::Cow;

use crate::crypto::{hex, sha256};
use crate::db::{audit_events, DbConnection, DbError};
use crate::events::{Database, DomainEvent, Subscriber};

pub use crate::db::audit_events::AuditEvent;

/// The most kept of a field an outsider can fill (a client id, a user agent in a
/// label, an email): the audit log must not grow by what a request carries.
pub const MAX_LABEL_CHARS: usize = 120;
pub const MAX_IP_CHARS: usize = 64;
pub const MAX_DETAIL_CHARS: usize = 300;

/// Writes every domain event as an audit line, in the transaction of the use case
/// that published it. A failure an outsider can repeat at will (a wrong password, an
/// unknown client) is one line per (action, actor, IP, detail, minute) with a count.
pub struct AuditLog;

impl Subscriber for AuditLog {
    fn name(&self) -> &'static str {
        "audit_log"
    }

    fn handle(&self, event: &DomainEvent, conn: &mut DbConnection) -> Result<(), String> {
        let detail = event.kind.detail();
        let label = event
            .actor
            .label
            .as_deref()
            .map(|l| capped(l, MAX_LABEL_CHARS));
        let ip = event.actor.ip.as_deref().map(|ip| capped(ip, MAX_IP_CHARS));
        let line = audit_events::NewAuditEvent {
            occurred_at: event.occurred_at,
            actor_user_id: event.actor.user_id,
            actor_label: label.as_deref(),
            ip: ip.as_deref(),
            action: event.kind.action(),
            detail: &capped(&detail, MAX_DETAIL_CHARS),
        };
        if event.kind.is_repeatable_failure() {
            audit_events::insert_or_count(conn, &line, &repeat_key(&line))
        } else {
            audit_events::insert(conn, &line)
        }
        .map_err(|e| e.to_string())
    }
}

/// `text` cut to `max_chars` characters (the cut marked with "…").
fn capped(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((end, _)) => {
            let cut = text[..end].char_indices().last().map_or(0, |(i, _)| i);
            Cow::Owned(format!("{}…", &text[..cut]))
        }
    }
}

/// Which counted line a repeated failure adds to: its fields and its minute, hashed
/// (the fields are capped, but the key need not be as long as they are).
fn repeat_key(line: &audit_events::NewAuditEvent<'_>) -> String {
    let minute = line.occurred_at.div_euclid(60).to_string();
    let user = line
        .actor_user_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let parts = [
        line.action,
        &user,
        line.actor_label.unwrap_or(""),
        line.ip.unwrap_or(""),
        line.detail,
        &minute,
    ];
    hex(&sha256(parts.join("\u{1f}").as_bytes()))
}

/// Removes the lines older than the retention period (the maintenance task).
pub async fn prune(db: &Database, now: i64, retention_days: i64) -> Result<usize, DbError> {
    let before = now - retention_days * 86_400;
    db.write(move |tx| Ok(audit_events::delete_older_than(tx.conn, before)?))
        .await
}

/// Newest first, `limit` at a time; `before_id` continues from an earlier page.
pub async fn recent(
    db: &Database,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEvent>, DbError> {
    db.read(move |conn| Ok(audit_events::list(conn, before_id, limit)?))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_field_is_cut_at_a_character_boundary_and_marked() {
        assert_eq!(capped("short", 10), "short");
        assert_eq!(capped("exactly10!", 10), "exactly10!");
        let long = "é".repeat(500);
        let cut = capped(&long, MAX_DETAIL_CHARS);
        assert_eq!(cut.chars().count(), MAX_DETAIL_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn a_repeated_failure_counts_on_one_line_per_minute() {
        let line = |at| audit_events::NewAuditEvent {
            occurred_at: at,
            actor_user_id: None,
            actor_label: Some("client x"),
            ip: Some("203.0.113.7"),
            action: "oauth.client_auth_failed",
            detail: "client x",
        };
        assert_eq!(repeat_key(&line(120)), repeat_key(&line(179)));
        assert_ne!(repeat_key(&line(179)), repeat_key(&line(180)));
        let other_ip = audit_events::NewAuditEvent {
            ip: Some("203.0.113.8"),
            ..line(120)
        };
        assert_ne!(repeat_key(&line(120)), repeat_key(&other_ip));
    }
}
