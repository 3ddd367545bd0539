use diesel::prelude::*;

use super::schema::stripe_connections;
use super::types::{ConnectionId, ConnectionStatus, RevokedBy, UserId};
use super::DbConnection;

/// A business's link to its Stripe account (tokens sealed).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stripe_connections)]
pub struct StripeConnection {
    pub id: ConnectionId,
    pub user_id: UserId,
    pub stripe_user_id: String,
    pub livemode: bool,
    pub scope: String,
    pub publishable_key: Option<String>,
    pub access_token_sealed: Option<Vec<u8>>,
    pub refresh_token_sealed: Option<Vec<u8>>,
    pub status: ConnectionStatus,
    pub connected_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<RevokedBy>,
    pub updated_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = stripe_connections)]
pub struct ConnectionForm<'a> {
    pub user_id: UserId,
    pub stripe_user_id: &'a str,
    pub livemode: bool,
    pub scope: &'a str,
    pub publishable_key: Option<&'a str>,
    pub access_token_sealed: Option<&'a [u8]>,
    pub refresh_token_sealed: Option<&'a [u8]>,
    pub status: ConnectionStatus,
    pub connected_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<RevokedBy>,
    pub updated_at: i64,
}

/// The business's current connection: its newest row, live or revoked (each connection
/// is a row of its own; a business has at most one live one).
pub fn find_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
) -> QueryResult<Option<StripeConnection>> {
    on_each_backend!(conn, |c| stripe_connections::table
        .filter(stripe_connections::user_id.eq(user_id))
        .order(stripe_connections::id.desc())
        .select(StripeConnection::as_select())
        .first(c)
        .optional())
}

/// The business's live connection, if it has one (at most one: a partial unique index).
pub fn live_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
) -> QueryResult<Option<StripeConnection>> {
    on_each_backend!(conn, |c| stripe_connections::table
        .filter(stripe_connections::user_id.eq(user_id))
        .filter(stripe_connections::status.eq(ConnectionStatus::Connected))
        .select(StripeConnection::as_select())
        .first(c)
        .optional())
}

/// The live connections to a Stripe account: at most one (a partial unique index holds
/// it), the one whose business the account's customers and events now belong to.
pub fn connected_to_account(
    conn: &mut DbConnection,
    stripe_user_id: &str,
) -> QueryResult<Vec<StripeConnection>> {
    on_each_backend!(conn, |c| stripe_connections::table
        .filter(stripe_connections::stripe_user_id.eq(stripe_user_id))
        .filter(stripe_connections::status.eq(ConnectionStatus::Connected))
        .select(StripeConnection::as_select())
        .load(c))
}

/// Stores a new connection as a row of its own (a reconnect too: the business's earlier
/// rows stay, revoked, as history); returns its id. A second live connection for the
/// business or for the account is refused by the database (a unique violation).
pub fn insert(conn: &mut DbConnection, form: &ConnectionForm<'_>) -> QueryResult<ConnectionId> {
    on_each_backend!(conn, |c| diesel::insert_into(stripe_connections::table)
        .values(form)
        .returning(stripe_connections::id)
        .get_result(c))
}

/// Marks a connection revoked (only if it is still connected); returns whether it changed.
/// The sealed tokens are dropped: they no longer work.
pub fn revoke(
    conn: &mut DbConnection,
    id: ConnectionId,
    now: i64,
    by: RevokedBy,
) -> QueryResult<bool> {
    let updated = on_each_backend!(conn, |c| diesel::update(
        stripe_connections::table
            .find(id)
            .filter(stripe_connections::status.eq(ConnectionStatus::Connected)),
    )
    .set((
        stripe_connections::status.eq(ConnectionStatus::Revoked),
        stripe_connections::revoked_at.eq(Some(now)),
        stripe_connections::revoked_by.eq(Some(by)),
        stripe_connections::access_token_sealed.eq(None::<Vec<u8>>),
        stripe_connections::refresh_token_sealed.eq(None::<Vec<u8>>),
        stripe_connections::updated_at.eq(now),
    ))
    .execute(c))?;
    Ok(updated == 1)
}
