use diesel::prelude::*;

use super::schema::oauth_authorization_codes as codes;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = codes)]
pub struct OAuthAuthorizationCode {
    pub id: i64,
    pub code_hash: String,
    pub client_pk: i64,
    pub user_id: i64,
    pub grant_id: i64,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub code_challenge: String,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub family_id: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = codes)]
pub struct NewOAuthAuthorizationCode<'a> {
    pub code_hash: &'a str,
    pub client_pk: i64,
    pub user_id: i64,
    pub grant_id: i64,
    pub redirect_uri: &'a str,
    pub redirect_uri_sent: bool,
    pub code_challenge: &'a str,
    pub scope: &'a str,
    pub issued_at: i64,
    pub expires_at: i64,
}

pub fn insert(conn: &mut DbConnection, new: &NewOAuthAuthorizationCode<'_>) -> QueryResult<()> {
    diesel::insert_into(codes::table)
        .values(new)
        .execute(conn)?;
    Ok(())
}

pub fn find_by_hash(
    conn: &mut DbConnection,
    code_hash: &str,
) -> QueryResult<Option<OAuthAuthorizationCode>> {
    codes::table
        .filter(codes::code_hash.eq(code_hash))
        .select(OAuthAuthorizationCode::as_select())
        .first(conn)
        .optional()
}

/// Marks the code used, atomically: true for exactly one caller, however many race.
pub fn claim(
    conn: &mut DbConnection,
    code_hash: &str,
    family_id: &str,
    now: i64,
) -> QueryResult<bool> {
    let updated = diesel::update(
        codes::table
            .filter(codes::code_hash.eq(code_hash))
            .filter(codes::used_at.is_null()),
    )
    .set((codes::used_at.eq(now), codes::family_id.eq(family_id)))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Unused codes past expiry, and used ones once nothing they issued can still live.
pub fn delete_expired(
    conn: &mut DbConnection,
    now: i64,
    used_retention_seconds: i64,
) -> QueryResult<usize> {
    diesel::delete(
        codes::table.filter(
            codes::used_at
                .is_null()
                .and(codes::expires_at.lt(now))
                .or(codes::expires_at.lt(now - used_retention_seconds)),
        ),
    )
    .execute(conn)
}
