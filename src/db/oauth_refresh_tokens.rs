use diesel::prelude::*;

use super::schema::oauth_refresh_tokens as tokens;
use super::DbConnection;

/// One refresh token of a rotation chain (`family_id`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct OAuthRefreshToken {
    pub id: i64,
    pub token_hash: String,
    pub family_id: String,
    pub client_pk: i64,
    pub user_id: i64,
    pub grant_id: i64,
    pub scope: String,
    pub issued_at: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    pub superseded_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewOAuthRefreshToken<'a> {
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub client_pk: i64,
    pub user_id: i64,
    pub grant_id: i64,
    pub scope: &'a str,
    pub issued_at: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
}

pub fn insert(conn: &mut DbConnection, new: &NewOAuthRefreshToken<'_>) -> QueryResult<()> {
    on_each_backend!(conn, |c| diesel::insert_into(tokens::table)
        .values(new)
        .execute(c))?;
    Ok(())
}

pub fn find_by_hash(
    conn: &mut DbConnection,
    token_hash: &str,
) -> QueryResult<Option<OAuthRefreshToken>> {
    on_each_backend!(conn, |c| tokens::table
        .filter(tokens::token_hash.eq(token_hash))
        .select(OAuthRefreshToken::as_select())
        .first(c)
        .optional())
}

/// Marks the token rotated out, atomically: true for exactly one caller.
pub fn claim(conn: &mut DbConnection, token_hash: &str, now: i64) -> QueryResult<bool> {
    let claim = Claim { token_hash, now };
    let updated = on_each_backend!(conn, |c| claim.execute(c))?;
    Ok(updated == 1)
}

pub fn revoke_family(conn: &mut DbConnection, family_id: &str, now: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(
        tokens::table
            .filter(tokens::family_id.eq(family_id))
            .filter(tokens::revoked_at.is_null()),
    )
    .set(tokens::revoked_at.eq(now))
    .execute(c))
}

pub fn revoke_grant(conn: &mut DbConnection, grant_id: i64, now: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(
        tokens::table
            .filter(tokens::grant_id.eq(grant_id))
            .filter(tokens::revoked_at.is_null()),
    )
    .set(tokens::revoked_at.eq(now))
    .execute(c))
}

pub fn delete_expired(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        tokens::table.filter(tokens::absolute_expires_at.lt(now))
    )
    .execute(c))
}

prepared_statement!(
    /// Marks a refresh token rotated out (it runs on every refresh).
    struct Claim<'a> { token_hash: &'a str, now: i64 }
    = "UPDATE oauth_refresh_tokens SET superseded_at = " {now: BigInt}
      " WHERE token_hash = " {token_hash: Text}
      " AND superseded_at IS NULL AND revoked_at IS NULL";
);
