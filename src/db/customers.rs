use diesel::prelude::*;

use super::schema::{customers, stripe_connections};
use super::stripe_connections::StripeConnection;
use super::types::{ConnectionId, ConnectionStatus, CustomerPk, UserId};
use super::DbConnection;

/// A customer a business recorded, with the customer-level fields last seen at Stripe.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers)]
pub struct CustomerRecord {
    pub id: CustomerPk,
    pub user_id: UserId,
    pub stripe_account: String,
    pub customer_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub livemode: bool,
    pub deleted: bool,
    pub version: i64,
    pub recorded_at: i64,
    pub fetched_at: i64,
    /// The connection the customer was recorded (or last attached) under: the record is
    /// live while that connection is, detached once it ended. `None`: detached, from
    /// before connections were rows of their own and no row matched.
    pub connection_id: Option<ConnectionId>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = customers)]
pub struct NewCustomerRecord<'a> {
    pub user_id: UserId,
    pub connection_id: ConnectionId,
    pub stripe_account: &'a str,
    pub customer_id: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub livemode: bool,
    pub deleted: bool,
    pub version: i64,
    pub recorded_at: i64,
    pub fetched_at: i64,
}

/// The customer-level fields a fetch or an event carries.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = customers, treat_none_as_null = true)]
pub struct CustomerFields<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub livemode: bool,
    pub deleted: bool,
    pub version: i64,
}

/// Inserts the record unless the business already has one for this customer; says
/// whether it did. Atomic on both backends (`ON CONFLICT DO NOTHING`).
pub fn insert_if_absent(conn: &mut DbConnection, new: &NewCustomerRecord<'_>) -> QueryResult<bool> {
    let insert = diesel::insert_into(customers::table)
        .values(new)
        .on_conflict((customers::user_id, customers::customer_id))
        .do_nothing();
    Ok(on_each_backend!(conn, |c| insert.execute(c))? == 1)
}

/// The record and, when the connection it is keyed to is live, that connection: in one
/// query (the cached read's).
pub fn find_with_live_connection(
    conn: &mut DbConnection,
    user_id: UserId,
    customer_id: &str,
) -> QueryResult<Option<(CustomerRecord, Option<StripeConnection>)>> {
    on_each_backend!(conn, |c| customers::table
        .left_join(
            stripe_connections::table.on(stripe_connections::id
                .nullable()
                .eq(customers::connection_id)
                .and(stripe_connections::status.eq(ConnectionStatus::Connected))),
        )
        .filter(customers::user_id.eq(user_id))
        .filter(customers::customer_id.eq(customer_id))
        .select((
            CustomerRecord::as_select(),
            Option::<StripeConnection>::as_select(),
        ))
        .first(c)
        .optional())
}

pub fn find(
    conn: &mut DbConnection,
    user_id: UserId,
    customer_id: &str,
) -> QueryResult<Option<CustomerRecord>> {
    on_each_backend!(conn, |c| customers::table
        .filter(customers::user_id.eq(user_id))
        .filter(customers::customer_id.eq(customer_id))
        .select(CustomerRecord::as_select())
        .first(c)
        .optional())
}

/// The record of one customer under one connection (a webhook's way in: only the
/// connection now live for the account it names).
pub fn find_for_connection(
    conn: &mut DbConnection,
    connection_id: ConnectionId,
    customer_id: &str,
) -> QueryResult<Vec<CustomerRecord>> {
    on_each_backend!(conn, |c| customers::table
        .filter(customers::connection_id.eq(connection_id))
        .filter(customers::customer_id.eq(customer_id))
        .select(CustomerRecord::as_select())
        .load(c))
}

/// Keys a record to `connection_id` (and its account), as recording it again under a
/// new connection does.
pub fn attach(
    conn: &mut DbConnection,
    pk: CustomerPk,
    connection_id: ConnectionId,
    stripe_account: &str,
) -> QueryResult<()> {
    on_each_backend!(conn, |c| diesel::update(customers::table.find(pk))
        .set((
            customers::connection_id.eq(Some(connection_id)),
            customers::stripe_account.eq(stripe_account),
        ))
        .execute(c))?;
    Ok(())
}

/// Keys every record the business made in `stripe_account` to its new connection to
/// that account (a reconnect); returns how many were detached before.
pub fn reattach_account(
    conn: &mut DbConnection,
    user_id: UserId,
    stripe_account: &str,
    connection_id: ConnectionId,
) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(
        customers::table
            .filter(customers::user_id.eq(user_id))
            .filter(customers::stripe_account.eq(stripe_account))
            .filter(
                customers::connection_id
                    .is_null()
                    .or(customers::connection_id.ne(connection_id)),
            ),
    )
    .set(customers::connection_id.eq(Some(connection_id)))
    .execute(c))
}

/// Newest first; `before_pk` continues after an earlier page.
pub fn page(
    conn: &mut DbConnection,
    user_id: UserId,
    before_pk: Option<CustomerPk>,
    limit: i64,
) -> QueryResult<Vec<CustomerRecord>> {
    let before = before_pk.unwrap_or(CustomerPk(i64::MAX));
    on_each_backend!(conn, |c| customers::table
        .filter(customers::user_id.eq(user_id))
        .filter(customers::id.lt(before))
        .order(customers::id.desc())
        .limit(limit)
        .select(CustomerRecord::as_select())
        .load(c))
}

/// Updates the customer-level fields unless a newer state is stored; says whether it did.
pub fn update_if_newer(
    conn: &mut DbConnection,
    pk: CustomerPk,
    fields: &CustomerFields<'_>,
) -> QueryResult<bool> {
    let updated = on_each_backend!(conn, |c| diesel::update(
        customers::table
            .find(pk)
            .filter(customers::version.le(fields.version)),
    )
    .set(fields)
    .execute(c))?;
    Ok(updated == 1)
}

pub fn mark_fetched(conn: &mut DbConnection, pk: CustomerPk, at: i64) -> QueryResult<()> {
    on_each_backend!(conn, |c| diesel::update(customers::table.find(pk))
        .set(customers::fetched_at.eq(at))
        .execute(c))?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, user_id: UserId, customer_id: &str) -> QueryResult<bool> {
    let deleted = on_each_backend!(conn, |c| diesel::delete(
        customers::table
            .filter(customers::user_id.eq(user_id))
            .filter(customers::customer_id.eq(customer_id)),
    )
    .execute(c))?;
    Ok(deleted > 0)
}
