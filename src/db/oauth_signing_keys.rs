use diesel::prelude::*;

use super::schema::oauth_signing_keys as keys;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = keys)]
pub struct OAuthSigningKey {
    pub id: i64,
    pub kid: String,
    pub algorithm: String,
    pub private_key_sealed: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = keys)]
pub struct NewOAuthSigningKey<'a> {
    pub kid: &'a str,
    pub algorithm: &'a str,
    pub private_key_sealed: &'a [u8],
    pub public_key: &'a [u8],
    pub created_at: i64,
}

pub fn insert(conn: &mut DbConnection, new: &NewOAuthSigningKey<'_>) -> QueryResult<()> {
    on_each_backend!(conn, |c| diesel::insert_into(keys::table)
        .values(new)
        .execute(c))?;
    Ok(())
}

/// Keys still published: unretired ones, and retired ones retired after `retired_since`.
pub fn list_published(
    conn: &mut DbConnection,
    retired_since: i64,
) -> QueryResult<Vec<OAuthSigningKey>> {
    on_each_backend!(conn, |c| keys::table
        .filter(
            keys::retired_at
                .is_null()
                .or(keys::retired_at.ge(retired_since)),
        )
        .order(keys::id.desc())
        .select(OAuthSigningKey::as_select())
        .load(c))
}

pub fn any_active_with_algorithm(conn: &mut DbConnection, algorithm: &str) -> QueryResult<bool> {
    on_each_backend!(conn, |c| diesel::select(diesel::dsl::exists(
        keys::table
            .filter(keys::retired_at.is_null())
            .filter(keys::algorithm.eq(algorithm)),
    ))
    .get_result(c))
}

/// Retires every active key except `keep_kid`.
pub fn retire_all_except(conn: &mut DbConnection, keep_kid: &str, now: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(
        keys::table
            .filter(keys::retired_at.is_null())
            .filter(keys::kid.ne(keep_kid)),
    )
    .set(keys::retired_at.eq(now))
    .execute(c))
}

pub fn delete_retired_before(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        keys::table.filter(keys::retired_at.lt(before))
    )
    .execute(c))
}
