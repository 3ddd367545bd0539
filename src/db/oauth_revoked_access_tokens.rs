//! Access tokens revoked one by one (RFC 7009). Tokens revoked with their family or
//! grant are not listed: those checks find the family or grant revoked.

use diesel::prelude::*;

use super::schema::oauth_revoked_access_tokens as revoked;
use super::DbConnection;

/// Records the revocation; false if the token was already revoked.
pub fn insert(conn: &mut DbConnection, jti: &str, expires_at: i64) -> QueryResult<bool> {
    let inserted = on_each_backend!(conn, |c| diesel::insert_into(revoked::table)
        .values((revoked::jti.eq(jti), revoked::expires_at.eq(expires_at)))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

pub fn contains(conn: &mut DbConnection, jti: &str) -> QueryResult<bool> {
    on_each_backend!(conn, |c| diesel::select(diesel::dsl::exists(
        revoked::table.filter(revoked::jti.eq(jti))
    ))
    .get_result(c))
}

/// Entries for tokens that have expired anyway.
pub fn delete_expired(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        revoked::table.filter(revoked::expires_at.lt(now))
    )
    .execute(c))
}
