use diesel::prelude::*;

use super::schema::oauth_authorization_codes as codes;
use super::types::{ClientPk, GrantId, UserId};
use super::DbConnection;

prepared_statement!(
    /// A new code (it runs on every authorization).
    pub struct NewOAuthAuthorizationCode<'a> {
        pub code_hash: &'a str,
        pub client_pk: ClientPk,
        pub user_id: UserId,
        pub grant_id: GrantId,
        pub redirect_uri: &'a str,
        pub redirect_uri_sent: bool,
        pub code_challenge: &'a str,
        pub scope: &'a str,
        pub issued_at: i64,
        pub expires_at: i64,
    } = "INSERT INTO oauth_authorization_codes (code_hash, client_pk, user_id, grant_id, \
         redirect_uri, redirect_uri_sent, code_challenge, scope, issued_at, expires_at) VALUES ("
        {code_hash: Text} ", " {client_pk: BigInt} ", " {user_id: BigInt} ", "
        {grant_id: BigInt} ", " {redirect_uri: Text} ", " {redirect_uri_sent: Bool} ", "
        {code_challenge: Text} ", " {scope: Text} ", " {issued_at: BigInt} ", "
        {expires_at: BigInt} ")";
);

pub fn insert(conn: &mut DbConnection, new: &NewOAuthAuthorizationCode<'_>) -> QueryResult<()> {
    on_each_backend!(conn, |c| new.execute(c))?;
    Ok(())
}

/// The family a stored code started (`Some(None)` while it is unused); `None` when no
/// code is stored under this key.
pub fn family_of(conn: &mut DbConnection, code_hash: &str) -> QueryResult<Option<Option<String>>> {
    on_each_backend!(conn, |c| codes::table
        .filter(codes::code_hash.eq(code_hash))
        .select(codes::family_id)
        .first(c)
        .optional())
}

/// What redeeming a code needs of it, read as it is claimed.
#[derive(Debug, Clone, QueryableByName)]
#[diesel(table_name = codes)]
pub struct ClaimedCode {
    pub client_pk: ClientPk,
    pub user_id: UserId,
    pub grant_id: GrantId,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub code_challenge: String,
    pub scope: String,
    pub expires_at: i64,
    /// Its grant exists and has not been revoked.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub grant_in_force: bool,
}

/// Marks the code used by `family_id`, atomically, and returns it: `Some` for exactly
/// one caller however many race, `None` when the code is unknown or was used before.
pub fn claim(
    conn: &mut DbConnection,
    code_hash: &str,
    family_id: &str,
    now: i64,
) -> QueryResult<Option<ClaimedCode>> {
    let claim = Claim {
        code_hash,
        family_id,
        now,
    };
    on_each_backend!(conn, |c| claim.get_result(c).optional())
}

/// Unused codes past expiry, and used ones once nothing they issued can still live.
pub fn delete_expired(
    conn: &mut DbConnection,
    now: i64,
    used_retention_seconds: i64,
) -> QueryResult<usize> {
    super::lock_order::expired_codes(conn, now, used_retention_seconds)?;
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
    /// Claims a code and reads it and its grant's state in one statement (it runs on
    /// every code exchange).
    struct Claim<'a> { code_hash: &'a str, family_id: &'a str, now: i64 }
    = "UPDATE oauth_authorization_codes SET used_at = " {now: BigInt}
      ", family_id = " {family_id: Text}
      " WHERE code_hash = " {code_hash: Text}
      " AND used_at IS NULL \
      RETURNING client_pk, user_id, grant_id, redirect_uri, redirect_uri_sent, \
      code_challenge, scope, expires_at, EXISTS (SELECT 1 FROM oauth_grants \
      WHERE oauth_grants.id = oauth_authorization_codes.grant_id \
      AND oauth_grants.revoked_at IS NULL) AS grant_in_force";
);
