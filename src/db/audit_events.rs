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
    /// How many times it happened (a repeated failure is one counted line per minute).
    pub repeats: i64,
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

/// Counts one more repetition of the line named `repeat_key`, inserting it the first
/// time: one statement, so concurrent repetitions add up.
pub fn insert_or_count(
    conn: &mut DbConnection,
    new: &NewAuditEvent<'_>,
    repeat_key: &str,
) -> QueryResult<()> {
    let row = (
        audit_events::occurred_at.eq(new.occurred_at),
        audit_events::actor_user_id.eq(new.actor_user_id),
        audit_events::actor_label.eq(new.actor_label),
        audit_events::ip.eq(new.ip),
        audit_events::action.eq(new.action),
        audit_events::detail.eq(new.detail),
        audit_events::repeat_key.eq(repeat_key),
    );
    on_each_backend!(conn, |c| diesel::insert_into(audit_events::table)
        .values(row)
        .on_conflict(audit_events::repeat_key)
        .do_update()
        .set(audit_events::repeats.eq(audit_events::repeats + 1))
        .execute(c))?;
    Ok(())
}

/// Deletes the lines older than `before` (the retention period).
pub fn delete_older_than(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        audit_events::table.filter(audit_events::occurred_at.lt(before))
    )
    .execute(c))
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
