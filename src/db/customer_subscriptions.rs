use diesel::prelude::*;

use super::schema::customer_subscriptions;
use super::types::CustomerPk;
use super::DbConnection;

/// One subscription of a recorded customer, as our API documents it (JSON), with the
/// Stripe time of the state it holds.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customer_subscriptions)]
pub struct CachedSubscription {
    pub id: i64,
    pub customer_pk: CustomerPk,
    pub subscription_id: String,
    pub status: String,
    pub renews_at: Option<i64>,
    pub document: String,
    pub version: i64,
}

#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = customer_subscriptions)]
pub struct SubscriptionForm<'a> {
    pub customer_pk: CustomerPk,
    pub subscription_id: &'a str,
    pub status: &'a str,
    pub renews_at: Option<i64>,
    pub document: &'a str,
    pub version: i64,
}

pub fn for_customer(
    conn: &mut DbConnection,
    customer_pk: CustomerPk,
) -> QueryResult<Vec<CachedSubscription>> {
    on_each_backend!(conn, |c| customer_subscriptions::table
        .filter(customer_subscriptions::customer_pk.eq(customer_pk))
        .order(customer_subscriptions::subscription_id.asc())
        .select(CachedSubscription::as_select())
        .load(c))
}

/// For many customers at once (a list page), in one query.
pub fn for_customers(
    conn: &mut DbConnection,
    customer_pks: &[CustomerPk],
) -> QueryResult<Vec<CachedSubscription>> {
    on_each_backend!(conn, |c| customer_subscriptions::table
        .filter(customer_subscriptions::customer_pk.eq_any(customer_pks))
        .order(customer_subscriptions::subscription_id.asc())
        .select(CachedSubscription::as_select())
        .load(c))
}

/// Stores the state unless a newer one is stored; says whether it did.
pub fn store_if_newer(conn: &mut DbConnection, form: &SubscriptionForm<'_>) -> QueryResult<bool> {
    use diesel::query_dsl::methods::FilterDsl;
    use diesel::upsert::excluded;
    // One atomic statement, so concurrent stores (two webhooks, a webhook and a fetch)
    // cannot both insert.
    let upsert = diesel::insert_into(customer_subscriptions::table)
        .values(form)
        .on_conflict((
            customer_subscriptions::customer_pk,
            customer_subscriptions::subscription_id,
        ))
        .do_update()
        .set(form)
        .filter(customer_subscriptions::version.le(excluded(customer_subscriptions::version)));
    Ok(on_each_backend!(conn, |c| upsert.execute(c))? == 1)
}

/// Removes subscriptions a fetch at `version` no longer saw (and no newer event brought).
pub fn delete_missing(
    conn: &mut DbConnection,
    customer_pk: CustomerPk,
    seen: &[String],
    version: i64,
) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        customer_subscriptions::table
            .filter(customer_subscriptions::customer_pk.eq(customer_pk))
            .filter(customer_subscriptions::subscription_id.ne_all(seen))
            .filter(customer_subscriptions::version.lt(version)),
    )
    .execute(c))
}
