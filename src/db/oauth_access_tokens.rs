use diesel::prelude::*;

use super::schema::{oauth_access_tokens as tokens, oauth_grants};
use super::DbConnection;

/// The record of an issued JWT access token, keyed by its `jti`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct OAuthAccessToken {
    pub id: i64,
    pub jti: String,
    pub client_pk: i64,
    pub user_id: Option<i64>,
    pub grant_id: Option<i64>,
    pub family_id: Option<String>,
    pub scope: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = tokens)]
pub struct NewOAuthAccessToken<'a> {
    pub jti: &'a str,
    pub client_pk: i64,
    pub user_id: Option<i64>,
    pub grant_id: Option<i64>,
    pub family_id: Option<&'a str>,
    pub scope: &'a str,
    pub issued_at: i64,
    pub expires_at: i64,
}

pub fn insert(conn: &mut DbConnection, new: &NewOAuthAccessToken<'_>) -> QueryResult<()> {
    let insert = diesel::insert_into(tokens::table).values(new);
    on_each_backend!(conn, |c| insert.execute(c))?;
    Ok(())
}

/// The token and whether its grant (if it has one) is still in force.
pub fn find_by_jti_with_grant_state(
    conn: &mut DbConnection,
    jti: &str,
) -> QueryResult<Option<(OAuthAccessToken, Option<Option<i64>>)>> {
    on_each_backend!(conn, |c| tokens::table
        .left_join(oauth_grants::table)
        .filter(tokens::jti.eq(jti))
        .select((
            OAuthAccessToken::as_select(),
            oauth_grants::revoked_at.nullable(),
        ))
        .first::<(OAuthAccessToken, Option<i64>)>(c)
        .optional())
    .map(|found| {
        found.map(|(token, grant_revoked_at)| {
            let grant_state = token.grant_id.map(|_| grant_revoked_at);
            (token, grant_state)
        })
    })
}

pub fn revoke_by_jti(conn: &mut DbConnection, jti: &str, now: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(
        tokens::table
            .filter(tokens::jti.eq(jti))
            .filter(tokens::revoked_at.is_null()),
    )
    .set(tokens::revoked_at.eq(now))
    .execute(c))
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
        tokens::table.filter(tokens::expires_at.lt(now))
    )
    .execute(c))
}
