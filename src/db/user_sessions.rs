use diesel::prelude::*;

use super::schema::{user_sessions, users};
use super::types::{SessionId, UserId};
use super::users::User;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = user_sessions)]
pub struct UserSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = user_sessions)]
pub struct NewUserSession<'a> {
    pub token_hash: &'a str,
    pub user_id: UserId,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub fn insert(conn: &mut DbConnection, new: &NewUserSession<'_>) -> QueryResult<UserSession> {
    on_each_backend!(conn, |c| diesel::insert_into(user_sessions::table)
        .values(new)
        .execute(c))?;
    on_each_backend!(conn, |c| user_sessions::table
        .filter(user_sessions::token_hash.eq(new.token_hash))
        .select(UserSession::as_select())
        .first(c))
}

/// The session with this token hash and its user, in one indexed read.
pub fn find_with_user(
    conn: &mut DbConnection,
    token_hash: &str,
) -> QueryResult<Option<(UserSession, User)>> {
    on_each_backend!(conn, |c| user_sessions::table
        .inner_join(users::table)
        .filter(user_sessions::token_hash.eq(token_hash))
        .select((UserSession::as_select(), User::as_select()))
        .first(c)
        .optional())
}

pub fn touch(conn: &mut DbConnection, id: SessionId, at: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(user_sessions::table.find(id))
        .set(user_sessions::last_seen_at.eq(at))
        .execute(c))
}

/// The user's sessions that have not expired (absolutely, or idle since before
/// `idle_since`), most recently used first.
pub fn list_live_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
    now: i64,
    idle_since: i64,
) -> QueryResult<Vec<UserSession>> {
    on_each_backend!(conn, |c| user_sessions::table
        .filter(user_sessions::user_id.eq(user_id))
        .filter(user_sessions::expires_at.gt(now))
        .filter(user_sessions::last_seen_at.gt(idle_since))
        .order(user_sessions::last_seen_at.desc())
        .select(UserSession::as_select())
        .load(c))
}

pub fn delete_by_token_hash(conn: &mut DbConnection, token_hash: &str) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        user_sessions::table.filter(user_sessions::token_hash.eq(token_hash))
    )
    .execute(c))
}

/// Deletes one of the user's sessions; another user's session id deletes nothing.
pub fn delete_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
    id: SessionId,
) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        user_sessions::table
            .filter(user_sessions::id.eq(id))
            .filter(user_sessions::user_id.eq(user_id))
    )
    .execute(c))
}

/// Deletes every session of the user except `keep` (when given).
pub fn delete_all_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
    keep: Option<SessionId>,
) -> QueryResult<usize> {
    let keep = keep.unwrap_or(SessionId(0));
    on_each_backend!(conn, |c| diesel::delete(
        user_sessions::table
            .filter(user_sessions::user_id.eq(user_id))
            .filter(user_sessions::id.ne(keep))
    )
    .execute(c))
}

/// Deletes the sessions that ended by time: past their absolute lifetime, or idle
/// since before `idle_since`.
pub fn delete_expired(conn: &mut DbConnection, now: i64, idle_since: i64) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::delete(
        user_sessions::table.filter(
            user_sessions::expires_at
                .le(now)
                .or(user_sessions::last_seen_at.le(idle_since))
        )
    )
    .execute(c))
}
