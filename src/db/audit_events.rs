use diesel::prelude::*;

use super::schema::audit_events;
use super::types::UserId;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: i64,
    pub actor_user_id: Option<UserId>,
    pub actor_label: Option<String>,
    pub ip: Option<String>,
    pub action: String,
    pub detail: String,
}

prepared_statement!(
    /// One audit line (every issuance writes one, so it is a fixed statement).
    pub struct NewAuditEvent<'a> {
        pub occurred_at: i64,
        pub actor_user_id: Option<UserId>,
        pub actor_label: Option<&'a str>,
        pub ip: Option<&'a str>,
        pub action: &'a str,
        pub detail: &'a str,
    } = "INSERT INTO audit_events (occurred_at, actor_user_id, actor_label, ip, action, detail) VALUES ("
        {occurred_at: BigInt} ", " {actor_user_id: Nullable<BigInt>} ", "
        {actor_label: Nullable<Text>} ", " {ip: Nullable<Text>} ", "
        {action: Text} ", " {detail: Text} ")";
);

pub fn insert(conn: &mut DbConnection, new: &NewAuditEvent<'_>) -> QueryResult<()> {
    on_each_backend!(conn, |c| new.execute(c))?;
    Ok(())
}

/// Newest first; `before_id` pages backwards.
pub fn list(
    conn: &mut DbConnection,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let before = before_id.unwrap_or(i64::MAX);
    on_each_backend!(conn, |c| audit_events::table
        .filter(audit_events::id.lt(before))
        .select(AuditEvent::as_select())
        .order(audit_events::id.desc())
        .limit(limit)
        .load(c))
}
