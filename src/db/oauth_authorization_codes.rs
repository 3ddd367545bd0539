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
    on_each_backend!(conn, |c| diesel::insert_into(codes::table)
        .values(new)
        .execute(c))?;
    Ok(())
}

pub fn find_by_hash(
    conn: &mut DbConnection,
    code_hash: &str,
) -> QueryResult<Option<OAuthAuthorizationCode>> {
    on_each_backend!(conn, |c| codes::table
        .filter(codes::code_hash.eq(code_hash))
        .select(OAuthAuthorizationCode::as_select())
        .first(c)
        .optional())
}

/// Marks the code used, atomically: true for exactly one caller, however many race.
pub fn claim(
    conn: &mut DbConnection,
    code_hash: &str,
    family_id: &str,
    now: i64,
) -> QueryResult<bool> {
    let claim = Claim {
        code_hash,
        family_id,
        now,
    };
    let updated = on_each_backend!(conn, |c| claim.execute(c))?;
    Ok(updated == 1)
}

/// Unused codes past expiry, and used ones once nothing they issued can still live.
pub fn delete_expired(
    conn: &mut DbConnection,
    now: i64,
    used_retention_seconds: i64,
) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        codes::table.filter(
            codes::used_at
                .is_null()
                .and(codes::expires_at.lt(now))
                .or(codes::expires_at.lt(now - used_retention_seconds)),
        ),
    )
    .execute(c))
}

prepared_statement!(
    /// Marks a code used (it runs on every code exchange).
    struct Claim<'a> { code_hash: &'a str, family_id: &'a str, now: i64 }
    = "UPDATE oauth_authorization_codes SET used_at = " {now: BigInt}
      ", family_id = " {family_id: Text}
      " WHERE code_hash = " {code_hash: Text}
      " AND used_at IS NULL";
);
