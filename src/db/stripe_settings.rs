use diesel::prelude::*;

use super::schema::{stripe_platform_settings, stripe_webhook_secrets};
use super::types::UserId;
use super::DbConnection;

/// The single row of platform settings (secrets still sealed).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = stripe_platform_settings)]
pub struct StripePlatformSettingsRow {
    pub id: i64,
    pub secret_key_sealed: Vec<u8>,
    pub secret_key_hint: String,
    pub publishable_key: String,
    pub connect_client_id: String,
    pub livemode: bool,
    pub updated_at: i64,
    pub updated_by: Option<UserId>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stripe_webhook_secrets)]
pub struct WebhookSecretRow {
    pub id: i64,
    pub secret_sealed: Vec<u8>,
    pub secret_hint: String,
    pub created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = stripe_webhook_secrets)]
pub struct NewWebhookSecret<'a> {
    pub secret_sealed: &'a [u8],
    pub secret_hint: &'a str,
    pub created_at: i64,
}

pub const SETTINGS_ROW_ID: i64 = 1;

pub fn find(conn: &mut DbConnection) -> QueryResult<Option<StripePlatformSettingsRow>> {
    on_each_backend!(conn, |c| stripe_platform_settings::table
        .find(SETTINGS_ROW_ID)
        .select(StripePlatformSettingsRow::as_select())
        .first(c)
        .optional())
}

/// Replaces the single settings row.
pub fn save(conn: &mut DbConnection, row: &StripePlatformSettingsRow) -> QueryResult<()> {
    let updated = on_each_backend!(conn, |c| diesel::update(
        stripe_platform_settings::table.find(SETTINGS_ROW_ID)
    )
    .set(row)
    .execute(c))?;
    if updated == 0 {
        on_each_backend!(conn, |c| diesel::insert_into(
            stripe_platform_settings::table
        )
        .values(row)
        .execute(c))?;
    }
    Ok(())
}

pub fn webhook_secrets(conn: &mut DbConnection) -> QueryResult<Vec<WebhookSecretRow>> {
    on_each_backend!(conn, |c| stripe_webhook_secrets::table
        .order(stripe_webhook_secrets::id.asc())
        .select(WebhookSecretRow::as_select())
        .load(c))
}

pub fn add_webhook_secret(conn: &mut DbConnection, new: &NewWebhookSecret<'_>) -> QueryResult<()> {
    on_each_backend!(conn, |c| diesel::insert_into(stripe_webhook_secrets::table)
        .values(new)
        .execute(c))?;
    Ok(())
}

pub fn delete_webhook_secret(conn: &mut DbConnection, id: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        stripe_webhook_secrets::table.find(id)
    )
    .execute(c))
}
