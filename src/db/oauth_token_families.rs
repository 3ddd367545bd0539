use diesel::prelude::*;

use super::schema::{oauth_grants, oauth_token_families as families};
use super::types::{ClientPk, GrantId, UserId};
use super::DbConnection;

/// A rotation family: one code exchange and every refresh that followed it. Its
/// access tokens name it (`sid`); its refresh tokens name it and their generation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = families)]
pub struct OAuthTokenFamily {
    pub id: i64,
    pub family_id: String,
    pub client_pk: ClientPk,
    pub user_id: UserId,
    pub grant_id: GrantId,
    pub scope: String,
    pub refresh_salt: Option<String>,
    pub generation: i64,
    pub rotated_at: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    pub revoked_at: Option<i64>,
}

prepared_statement!(
    /// A new family (it runs on every code exchange).
    pub struct NewOAuthTokenFamily<'a> {
        pub family_id: &'a str,
        pub client_pk: ClientPk,
        pub user_id: UserId,
        pub grant_id: GrantId,
        pub scope: &'a str,
        pub refresh_salt: Option<&'a str>,
        pub generation: i64,
        pub rotated_at: i64,
        pub idle_expires_at: i64,
        pub absolute_expires_at: i64,
    } = "INSERT INTO oauth_token_families (family_id, client_pk, user_id, grant_id, scope, \
         refresh_salt, generation, rotated_at, idle_expires_at, absolute_expires_at) VALUES ("
        {family_id: Text} ", " {client_pk: BigInt} ", " {user_id: BigInt} ", "
        {grant_id: BigInt} ", " {scope: Text} ", " {refresh_salt: Nullable<Text>} ", "
        {generation: BigInt} ", " {rotated_at: BigInt} ", " {idle_expires_at: BigInt} ", "
        {absolute_expires_at: BigInt} ")";
);

pub fn insert(conn: &mut DbConnection, new: &NewOAuthTokenFamily<'_>) -> QueryResult<()> {
    on_each_backend!(conn, |c| new.execute(c))?;
    Ok(())
}

/// The family and when its grant was revoked (`None` while the grant is in force).
pub fn find_with_grant_state(
    conn: &mut DbConnection,
    family_id: &str,
) -> QueryResult<Option<(OAuthTokenFamily, Option<i64>)>> {
    on_each_backend!(conn, |c| families::table
        .inner_join(oauth_grants::table)
        .filter(families::family_id.eq(family_id))
        .select((OAuthTokenFamily::as_select(), oauth_grants::revoked_at))
        .first(c)
        .optional())
}

/// Moves the family from `generation` to the next, atomically: true for exactly one
/// of any number of racing refreshes (on PostgreSQL the losers wait for the row lock,
/// then find the generation moved on). A refresh locks this one row and no other of
/// the OAuth tables, so it cannot take part in a deadlock (see `lock_order`).
pub fn rotate(
    conn: &mut DbConnection,
    id: i64,
    generation: i64,
    idle_expires_at: i64,
    now: i64,
) -> QueryResult<bool> {
    let rotate = Rotate {
        id,
        generation,
        idle_expires_at,
        now,
    };
    Ok(on_each_backend!(conn, |c| rotate.execute(c))? == 1)
}

pub fn revoke(conn: &mut DbConnection, family_id: &str, now: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(
        families::table
            .filter(families::family_id.eq(family_id))
            .filter(families::revoked_at.is_null()),
    )
    .set(families::revoked_at.eq(now))
    .execute(c))
}

/// Revokes every family of the grant (whose row the caller has updated first: grant,
/// then families, in the order of `lock_order`).
pub fn revoke_grant(conn: &mut DbConnection, grant_id: GrantId, now: i64) -> QueryResult<usize> {
    super::lock_order::families_of_grant(conn, grant_id)?;
    on_each_backend!(conn, |c| diesel::update(
        families::table
            .filter(families::grant_id.eq(grant_id))
            .filter(families::revoked_at.is_null()),
    )
    .set(families::revoked_at.eq(now))
    .execute(c))
}

/// Families past their absolute expiry, and revoked ones revoked before
/// `revoked_before` (once no access token of theirs can still be presented).
pub fn delete_expired(
    conn: &mut DbConnection,
    now: i64,
    revoked_before: i64,
) -> QueryResult<usize> {
    super::lock_order::expired_families(conn, now, revoked_before)?;
    on_each_backend!(conn, |c| diesel::delete(
        families::table.filter(
            families::absolute_expires_at
                .lt(now)
                .or(families::revoked_at.lt(revoked_before)),
        ),
    )
    .execute(c))
}

prepared_statement!(
    /// Rotates a family's refresh token (it runs on every refresh). No indexed column
    /// changes, so this rewrites one table page.
    struct Rotate { id: i64, generation: i64, idle_expires_at: i64, now: i64 }
    = "UPDATE oauth_token_families SET generation = generation + 1, rotated_at = " {now: BigInt}
      ", idle_expires_at = " {idle_expires_at: BigInt}
      " WHERE id = " {id: BigInt}
      " AND generation = " {generation: BigInt}
      " AND revoked_at IS NULL";
);
