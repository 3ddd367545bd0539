use diesel::prelude::*;

use super::schema::users;
use super::types::UserId;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub business_name: String,
    pub is_admin: bool,
    pub created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub business_name: &'a str,
    pub is_admin: bool,
    pub created_at: i64,
}

/// Inserts and returns the stored row (looked up by its unique email, which works the
/// same on both backends).
pub fn insert(conn: &mut DbConnection, new: &NewUser<'_>) -> QueryResult<User> {
    on_each_backend!(conn, |c| diesel::insert_into(users::table)
        .values(new)
        .execute(c))?;
    find_by_email(conn, new.email)?.ok_or(diesel::result::Error::NotFound)
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
    on_each_backend!(conn, |c| users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(c)
        .optional())
}

pub fn find(conn: &mut DbConnection, id: UserId) -> QueryResult<Option<User>> {
    on_each_backend!(conn, |c| users::table
        .find(id)
        .select(User::as_select())
        .first(c)
        .optional())
}

pub fn set_password_hash(
    conn: &mut DbConnection,
    id: UserId,
    password_hash: &str,
) -> QueryResult<usize> {
    on_each_backend!(conn, |c| diesel::update(users::table.find(id))
        .set(users::password_hash.eq(password_hash))
        .execute(c))
}

pub fn any_admin(conn: &mut DbConnection) -> QueryResult<bool> {
    on_each_backend!(conn, |c| diesel::select(diesel::dsl::exists(
        users::table.filter(users::is_admin.eq(true)),
    ))
    .get_result(c))
}

pub fn list(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<User>> {
    on_each_backend!(conn, |c| users::table
        .order(users::id.desc())
        .limit(limit)
        .select(User::as_select())
        .load(c))
}
