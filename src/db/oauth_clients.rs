use diesel::prelude::*;

use super::oauth_grants::OAuthGrant;
use super::schema::{oauth_clients, oauth_grants, users};
use super::types::{ClientPk, ClientType, UserId};
use super::users::User;
use super::DbConnection;

/// A registered OAuth client. List columns are stored space-separated.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_clients)]
pub struct OAuthClient {
    pub id: ClientPk,
    pub client_id: String,
    pub owner_user_id: UserId,
    pub name: String,
    pub client_type: ClientType,
    pub secret_hash: Option<String>,
    pub redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub cors_origins: String,
    pub issue_refresh_tokens: bool,
    pub always_ask_consent: bool,
    pub created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = oauth_clients)]
pub struct NewOAuthClient<'a> {
    pub client_id: &'a str,
    pub owner_user_id: UserId,
    pub name: &'a str,
    pub client_type: ClientType,
    pub secret_hash: Option<&'a str>,
    pub redirect_uris: &'a str,
    pub grant_types: &'a str,
    pub scopes: &'a str,
    pub cors_origins: &'a str,
    pub issue_refresh_tokens: bool,
    pub always_ask_consent: bool,
    pub created_at: i64,
}

pub fn insert(conn: &mut DbConnection, new: &NewOAuthClient<'_>) -> QueryResult<OAuthClient> {
    on_each_backend!(conn, |c| diesel::insert_into(oauth_clients::table)
        .values(new)
        .execute(c))?;
    find_by_client_id(conn, new.client_id)?.ok_or(diesel::result::Error::NotFound)
}

pub fn find_by_client_id(
    conn: &mut DbConnection,
    client_id: &str,
) -> QueryResult<Option<OAuthClient>> {
    on_each_backend!(conn, |c| oauth_clients::table
        .filter(oauth_clients::client_id.eq(client_id))
        .select(OAuthClient::as_select())
        .first(c)
        .optional())
}

/// A client, the logged-in user (if any) and that user's grant to the client (if any).
pub type ClientUserGrant = (OAuthClient, Option<User>, Option<OAuthGrant>);

/// What an authorization request needs, in one query: the client, the logged-in user
/// (`None` when nobody is, or the user is gone) and that user's unrevoked grant to the
/// client. `None` when no client has this `client_id`.
pub fn find_for_authorization(
    conn: &mut DbConnection,
    client_id: &str,
    user_id: Option<UserId>,
) -> QueryResult<Option<ClientUserGrant>> {
    on_each_backend!(conn, |c| oauth_clients::table
        .left_join(users::table.on(users::id.nullable().eq(user_id)))
        .left_join(
            oauth_grants::table.on(oauth_grants::client_pk
                .eq(oauth_clients::id)
                .and(oauth_grants::user_id.nullable().eq(user_id))
                .and(oauth_grants::revoked_at.is_null())),
        )
        .filter(oauth_clients::client_id.eq(client_id))
        .order(oauth_grants::id.desc())
        .select((
            OAuthClient::as_select(),
            Option::<User>::as_select(),
            Option::<OAuthGrant>::as_select(),
        ))
        .first(c)
        .optional())
}

pub fn find(conn: &mut DbConnection, id: ClientPk) -> QueryResult<Option<OAuthClient>> {
    on_each_backend!(conn, |c| oauth_clients::table
        .find(id)
        .select(OAuthClient::as_select())
        .first(c)
        .optional())
}

pub fn list_by_owner(
    conn: &mut DbConnection,
    owner_user_id: UserId,
) -> QueryResult<Vec<OAuthClient>> {
    on_each_backend!(conn, |c| oauth_clients::table
        .filter(oauth_clients::owner_user_id.eq(owner_user_id))
        .order(oauth_clients::id.asc())
        .select(OAuthClient::as_select())
        .load(c))
}

pub fn list_all(conn: &mut DbConnection) -> QueryResult<Vec<OAuthClient>> {
    on_each_backend!(conn, |c| oauth_clients::table
        .order(oauth_clients::id.asc())
        .select(OAuthClient::as_select())
        .load(c))
}

/// Every client that registered CORS origins: its `client_id` and its origins
/// (space-separated).
pub fn cors_origins(conn: &mut DbConnection) -> QueryResult<Vec<(String, String)>> {
    on_each_backend!(conn, |c| oauth_clients::table
        .filter(oauth_clients::cors_origins.ne(""))
        .select((oauth_clients::client_id, oauth_clients::cors_origins))
        .load(c))
}

pub fn set_secret_hash(
    conn: &mut DbConnection,
    id: ClientPk,
    secret_hash: &str,
) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(oauth_clients::table.find(id))
        .set(oauth_clients::secret_hash.eq(secret_hash))
        .execute(c))
}

/// Deletes the client; codes, grants and tokens go with it (ON DELETE CASCADE), locked
/// first in the order of `lock_order`.
pub fn delete(conn: &mut DbConnection, id: ClientPk) -> QueryResult<usize> {
    super::lock_order::everything_of_client(conn, id)?;
    on_each_backend!(conn, |c| diesel::delete(oauth_clients::table.find(id))
        .execute(c))
}
