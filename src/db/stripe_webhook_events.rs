use diesel::prelude::*;

use super::schema::stripe_webhook_events;
use super::DbConnection;

/// One received Stripe event (the deduplication record and the raw object).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stripe_webhook_events)]
pub struct WebhookEvent {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub account: Option<String>,
    pub livemode: bool,
    pub created: i64,
    pub object_id: Option<String>,
    pub object_json: String,
    pub outcome: String,
    pub received_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = stripe_webhook_events)]
pub struct NewWebhookEvent<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub account: Option<&'a str>,
    pub livemode: bool,
    pub created: i64,
    pub object_id: Option<&'a str>,
    pub object_json: &'a str,
    pub outcome: &'a str,
    pub received_at: i64,
}

pub fn exists(conn: &mut DbConnection, event_id: &str) -> QueryResult<bool> {
    on_each_backend!(conn, |c| diesel::select(diesel::dsl::exists(
        stripe_webhook_events::table.filter(stripe_webhook_events::event_id.eq(event_id)),
    ))
    .get_result(c))
}

pub fn insert(conn: &mut DbConnection, new: &NewWebhookEvent<'_>) -> QueryResult<()> {
    on_each_backend!(conn, |c| diesel::insert_into(stripe_webhook_events::table)
        .values(new)
        .execute(c))?;
    Ok(())
}

/// Newest first.
pub fn for_account(
    conn: &mut DbConnection,
    account: &str,
    limit: i64,
) -> QueryResult<Vec<WebhookEvent>> {
    on_each_backend!(conn, |c| stripe_webhook_events::table
        .filter(stripe_webhook_events::account.eq(account))
        .order((
            stripe_webhook_events::created.desc(),
            stripe_webhook_events::id.desc(),
        ))
        .limit(limit)
        .select(WebhookEvent::as_select())
        .load(c))
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    on_each_backend!(conn, |c| stripe_webhook_events::table.count().get_result(c))
}
