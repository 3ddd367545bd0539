//! The audit log: the first subscriber of the event bus, and its reading side for admins.

use crate::db::{audit_events, DbConnection, DbError};
use crate::events::{Database, DomainEvent, Subscriber};

pub use crate::db::audit_events::AuditEvent;

/// Writes every domain event as one audit line, in the transaction of the use case
/// that published it.
pub struct AuditLog;

impl Subscriber for AuditLog {
    fn name(&self) -> &'static str {
        "audit_log"
    }

    fn handle(&self, event: &DomainEvent, conn: &mut DbConnection) -> Result<(), String> {
        let detail = event.kind.detail();
        audit_events::insert(
            conn,
            &audit_events::NewAuditEvent {
                occurred_at: event.occurred_at,
                actor_user_id: event.actor.user_id,
                actor_label: event.actor.label.as_deref(),
                ip: event.actor.ip.as_deref(),
                action: event.kind.action(),
                detail: &detail,
            },
        )
        .map_err(|e| e.to_string())
    }
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
