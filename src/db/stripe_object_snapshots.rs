use diesel::prelude::*;

use super::schema::stripe_object_snapshots;
use super::DbConnection;

/// The newest known state of one Stripe object of a connected account, as the latest
/// event (by Stripe's `created`) carried it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stripe_object_snapshots)]
pub struct ObjectSnapshot {
    pub id: i64,
    pub account: String,
    pub object_type: String,
    pub object_id: String,
    pub event_id: String,
    pub event_created: i64,
    pub deleted: bool,
    pub object_json: String,
}

#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = stripe_object_snapshots)]
pub struct SnapshotForm<'a> {
    pub account: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub event_id: &'a str,
    pub event_created: i64,
    pub deleted: bool,
    pub object_json: &'a str,
}

pub fn find(
    conn: &mut DbConnection,
    account: &str,
    object_id: &str,
) -> QueryResult<Option<ObjectSnapshot>> {
    stripe_object_snapshots::table
        .filter(stripe_object_snapshots::account.eq(account))
        .filter(stripe_object_snapshots::object_id.eq(object_id))
        .select(ObjectSnapshot::as_select())
        .first(conn)
        .optional()
}

/// Stores the snapshot unless a newer event already did; returns whether it was stored.
pub fn store_if_newer(conn: &mut DbConnection, form: &SnapshotForm<'_>) -> QueryResult<bool> {
    match find(conn, form.account, form.object_id)? {
        None => {
            diesel::insert_into(stripe_object_snapshots::table)
                .values(form)
                .execute(conn)?;
            Ok(true)
        }
        Some(existing) if existing.event_created <= form.event_created => {
            diesel::update(stripe_object_snapshots::table.find(existing.id))
                .set(form)
                .execute(conn)?;
            Ok(true)
        }
        Some(_) => Ok(false),
    }
}

pub fn for_account(
    conn: &mut DbConnection,
    account: &str,
    object_type: &str,
) -> QueryResult<Vec<ObjectSnapshot>> {
    stripe_object_snapshots::table
        .filter(stripe_object_snapshots::account.eq(account))
        .filter(stripe_object_snapshots::object_type.eq(object_type))
        .order(stripe_object_snapshots::object_id.asc())
        .select(ObjectSnapshot::as_select())
        .load(conn)
}
