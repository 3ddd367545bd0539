use diesel::prelude::*;

use super::schema::stripe_connect_states;
use super::types::UserId;
use super::DbConnection;

/// A Connect OAuth `state`: only its keyed hash is stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stripe_connect_states)]
pub struct ConnectState {
    pub id: i64,
    pub state_hash: String,
    pub user_id: UserId,
    pub session_binding_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = stripe_connect_states)]
pub struct NewConnectState<'a> {
    pub state_hash: &'a str,
    pub user_id: UserId,
    pub session_binding_hash: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn insert(conn: &mut DbConnection, new: &NewConnectState<'_>) -> QueryResult<()> {
    on_each_backend!(conn, |c| diesel::insert_into(stripe_connect_states::table)
        .values(new)
        .execute(c))?;
    Ok(())
}

pub fn find_by_hash(
    conn: &mut DbConnection,
    state_hash: &str,
) -> QueryResult<Option<ConnectState>> {
    on_each_backend!(conn, |c| stripe_connect_states::table
        .filter(stripe_connect_states::state_hash.eq(state_hash))
        .select(ConnectState::as_select())
        .first(c)
        .optional())
}

/// Marks the state used, only if it was still unused; returns whether this call did it
/// (so two concurrent callbacks cannot both take it).
pub fn take(conn: &mut DbConnection, id: i64, now: i64) -> QueryResult<bool> {
    let updated = on_each_backend!(conn, |c| diesel::update(
        stripe_connect_states::table
            .find(id)
            .filter(stripe_connect_states::used_at.is_null()),
    )
    .set(stripe_connect_states::used_at.eq(Some(now)))
    .execute(c))?;
    Ok(updated == 1)
}

/// Forgets states that expired more than a day ago.
pub fn delete_expired(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        stripe_connect_states::table.filter(stripe_connect_states::expires_at.lt(before)),
    )
    .execute(c))
}
