//! The order in which PostgreSQL transactions lock the rows of the OAuth tables, so that
//! no two of them can wait for each other (a deadlock needs two transactions that take
//! two locks in opposite orders).
//!
//! **Codes, then grants, then token families; within a table, by ascending `id`.**
//!
//! - A code exchange claims its code (the code's row), then inserts a family, whose
//!   foreign key takes a share lock on the grant: code → grant.
//! - A replayed code waits on the code's row, then revokes the family it started:
//!   code → family.
//! - A refresh, a reuse of a rotated-out refresh token and a revocation at
//!   `/o/revoke_token/` lock one family's row and nothing else of these tables.
//! - A consent updates (or inserts) its grant, then inserts a code: grant → (new) code,
//!   which no one else can see, let alone lock, before the commit.
//! - A grant's revocation locks the grant, then its families ([`families_of_grant`]):
//!   grant → families by id.
//! - The periodic cleanup deletes expired codes, then expired families, each set locked
//!   first in id order ([`expired_codes`], [`expired_families`]).
//! - A client's deletion cascades from the client to its grants and from them to codes
//!   and families, in an order of PostgreSQL's choosing (grant before code); so the
//!   rows are locked first, in this order ([`everything_of_client`]), and the cascade
//!   then finds them locked already.
//!
//! Only the rare, multi-row paths pay for this: a few `SELECT … FOR UPDATE` statements.
//! The hot paths (exchange, refresh) lock one or two rows in this order by their nature.
//! SQLite needs none of it: one writer runs every write in turn, so these are no-ops
//! there. Should a deadlock happen anyway (a path added without heeding this),
//! `Database::write` runs the losing use case again (see `faults`).

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::types::{ClientPk, GrantId};
use super::{Backend, DbConnection};

/// Runs a locking `SELECT` on PostgreSQL, binding `values` in order; nothing on SQLite.
fn lock(conn: &mut DbConnection, sql: &str, values: &[i64]) -> QueryResult<()> {
    let Backend::Postgres(pg) = &mut conn.0 else {
        return Ok(());
    };
    let mut query = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
    for value in values {
        query = query.bind::<BigInt, _>(*value);
    }
    query.execute(pg).map(drop)
}

/// The grant's families, before its revocation updates them.
pub fn families_of_grant(conn: &mut DbConnection, grant_id: GrantId) -> QueryResult<()> {
    lock(
        conn,
        "SELECT id FROM oauth_token_families WHERE grant_id = $1 AND revoked_at IS NULL \
         ORDER BY id FOR UPDATE",
        &[grant_id.0],
    )
}

/// The codes the cleanup deletes (see `oauth_authorization_codes::delete_expired`).
pub fn expired_codes(
    conn: &mut DbConnection,
    now: i64,
    used_retention_seconds: i64,
) -> QueryResult<()> {
    lock(
        conn,
        "SELECT id FROM oauth_authorization_codes \
         WHERE (used_at IS NULL AND expires_at < $1) OR expires_at < $2 \
         ORDER BY id FOR UPDATE",
        &[now, now - used_retention_seconds],
    )
}

/// The families the cleanup deletes (see `oauth_token_families::delete_expired`).
pub fn expired_families(conn: &mut DbConnection, now: i64, revoked_before: i64) -> QueryResult<()> {
    lock(
        conn,
        "SELECT id FROM oauth_token_families \
         WHERE absolute_expires_at < $1 OR revoked_at < $2 ORDER BY id FOR UPDATE",
        &[now, revoked_before],
    )
}

/// Every code, grant and family of a client, before its deletion cascades to them.
pub fn everything_of_client(conn: &mut DbConnection, client_pk: ClientPk) -> QueryResult<()> {
    lock(
        conn,
        "SELECT codes.id FROM oauth_authorization_codes codes \
         JOIN oauth_grants grants ON grants.id = codes.grant_id \
         WHERE grants.client_pk = $1 ORDER BY codes.id FOR UPDATE OF codes",
        &[client_pk.0],
    )?;
    lock(
        conn,
        "SELECT id FROM oauth_grants WHERE client_pk = $1 ORDER BY id FOR UPDATE",
        &[client_pk.0],
    )?;
    lock(
        conn,
        "SELECT id FROM oauth_token_families WHERE client_pk = $1 ORDER BY id FOR UPDATE",
        &[client_pk.0],
    )
}
