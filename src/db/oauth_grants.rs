use diesel::prelude::*;

use super::schema::{oauth_clients, oauth_grants};
use super::types::{ClientPk, GrantId, UserId};
use super::DbConnection;

/// A user's consent to a client for a set of scopes.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_grants)]
pub struct OAuthGrant {
    pub id: GrantId,
    pub client_pk: ClientPk,
    pub user_id: UserId,
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = oauth_grants)]
pub struct NewOAuthGrant<'a> {
    pub client_pk: ClientPk,
    pub user_id: UserId,
    pub scope: &'a str,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut DbConnection, new: &NewOAuthGrant<'_>) -> QueryResult<OAuthGrant> {
    on_each_backend!(conn, |c| diesel::insert_into(oauth_grants::table)
        .values(new)
        .execute(c))?;
    on_each_backend!(conn, |c| oauth_grants::table
        .filter(oauth_grants::client_pk.eq(new.client_pk))
        .filter(oauth_grants::user_id.eq(new.user_id))
        .order(oauth_grants::id.desc())
        .select(OAuthGrant::as_select())
        .first(c))
}

pub fn find(conn: &mut DbConnection, id: GrantId) -> QueryResult<Option<OAuthGrant>> {
    on_each_backend!(conn, |c| oauth_grants::table
        .find(id)
        .select(OAuthGrant::as_select())
        .first(c)
        .optional())
}

/// The user's unrevoked grant to this client, if any.
pub fn find_active(
    conn: &mut DbConnection,
    client_pk: ClientPk,
    user_id: UserId,
) -> QueryResult<Option<OAuthGrant>> {
    on_each_backend!(conn, |c| oauth_grants::table
        .filter(oauth_grants::client_pk.eq(client_pk))
        .filter(oauth_grants::user_id.eq(user_id))
        .filter(oauth_grants::revoked_at.is_null())
        .order(oauth_grants::id.desc())
        .select(OAuthGrant::as_select())
        .first(c)
        .optional())
}

pub fn set_scope(
    conn: &mut DbConnection,
    id: GrantId,
    scope: &str,
    now: i64,
) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(oauth_grants::table.find(id))
        .set((
            oauth_grants::scope.eq(scope),
            oauth_grants::updated_at.eq(now),
        ))
        .execute(c))
}

pub fn revoke(conn: &mut DbConnection, id: GrantId, now: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(
        oauth_grants::table
            .find(id)
            .filter(oauth_grants::revoked_at.is_null()),
    )
    .set(oauth_grants::revoked_at.eq(now))
    .execute(c))
}

/// The user's active grants with the client's id and name, newest first.
pub fn list_active_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
) -> QueryResult<Vec<(OAuthGrant, String, String)>> {
    on_each_backend!(conn, |c| oauth_grants::table
        .inner_join(oauth_clients::table)
        .filter(oauth_grants::user_id.eq(user_id))
        .filter(oauth_grants::revoked_at.is_null())
        .order(oauth_grants::id.desc())
        .select((
            OAuthGrant::as_select(),
            oauth_clients::client_id,
            oauth_clients::name,
        ))
        .load(c))
}
