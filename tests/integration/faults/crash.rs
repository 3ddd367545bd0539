//! SIGKILL under load. An answer is sent only after the commit it reports, so whatever
//! a client was answered must be there after a restart; and a use case is one
//! transaction, so nothing is ever half written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::RunQueryDsl;
use reqwest::StatusCode;

use super::{access_token_family, refresh_token_parts, Clients, Pkce, ServerProcess};

/// What reached one client before the kill, and what it had in flight.
#[derive(Default)]
struct Ledger {
    /// Codes it was given and had not sent to the token endpoint.
    codes: Vec<(String, String)>,
    /// A code it sent to the token endpoint without hearing back.
    exchange_in_flight: Option<(String, String)>,
    /// Each family it started: the last access and refresh token it was given.
    families: Vec<Family>,
    requests_answered: usize,
}

struct Family {
    access_token: String,
    refresh_token: String,
    /// A refresh of it was sent without an answer.
    refresh_in_flight: bool,
}

/// One client's loop: authorize, exchange the older of two codes it holds, refresh a
/// family in turn; it stops at the first request that gets no complete answer (the
/// server is gone) or when told to.
async fn client_loop(clients: Clients, stop: Arc<AtomicBool>) -> Ledger {
    let mut ledger = Ledger::default();
    let mut turn = 0;
    while !stop.load(Ordering::Relaxed) {
        let pkce = Pkce::new();
        let Ok((answer, code)) = clients.authorize(&pkce).await else {
            break;
        };
        assert_eq!(
            answer.status,
            StatusCode::FOUND,
            "authorize: {}",
            answer.body
        );
        ledger.requests_answered += 1;
        ledger
            .codes
            .push((code.expect("a code in the redirect"), pkce.verifier));
        if ledger.codes.len() > 1 {
            let (code, verifier) = ledger.codes.remove(0);
            ledger.exchange_in_flight = Some((code.clone(), verifier.clone()));
            let Ok(answer) = clients.exchange(&code, &verifier).await else {
                break;
            };
            assert_eq!(answer.status, StatusCode::OK, "exchange: {}", answer.body);
            ledger.requests_answered += 1;
            ledger.exchange_in_flight = None;
            ledger.families.push(Family {
                access_token: answer.field("access_token").expect("access token"),
                refresh_token: answer.field("refresh_token").expect("refresh token"),
                refresh_in_flight: false,
            });
        }
        if !ledger.families.is_empty() {
            turn += 1;
            let index = turn % ledger.families.len();
            let family = &mut ledger.families[index];
            family.refresh_in_flight = true;
            let Ok(answer) = clients.refresh(&family.refresh_token).await else {
                break;
            };
            assert_eq!(answer.status, StatusCode::OK, "refresh: {}", answer.body);
            ledger.requests_answered += 1;
            family.refresh_in_flight = false;
            family.access_token = answer.field("access_token").expect("access token");
            family.refresh_token = answer
                .field("refresh_token")
                .expect("rotated refresh token");
        }
    }
    ledger
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// Runs a query that counts, on either backend.
fn count(conn: &mut bridgekeeper::db::Backend, sql: &str) -> i64 {
    use bridgekeeper::db::Backend;
    let query = diesel::sql_query(sql);
    match conn {
        Backend::Sqlite(c) => query.get_result::<Count>(c),
        Backend::Postgres(c) => query.get_result::<Count>(c),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
    .n
}

/// The checks of a database that holds nothing half written: SQLite's own structure
/// and foreign keys, and, on both backends, each use case's rows together with their
/// audit lines (one transaction wrote both or neither).
async fn assert_nothing_half_written(server: &ServerProcess) {
    let sqlite = server.is_sqlite();
    let findings = server
        .raw_database(move |conn| {
            let mut findings = Vec::new();
            if sqlite {
                let bridgekeeper::db::Backend::Sqlite(c) = conn else {
                    unreachable!("a SQLite URL");
                };
                let integrity: Vec<Text> = diesel::sql_query(
                    "SELECT integrity_check AS value FROM pragma_integrity_check",
                )
                .load(c)
                .expect("integrity_check");
                let integrity: Vec<String> = integrity.into_iter().map(|r| r.value).collect();
                if integrity != ["ok"] {
                    findings.push(format!("integrity_check: {integrity:?}"));
                }
                let dangling = count(conn, "SELECT COUNT(*) AS n FROM pragma_foreign_key_check");
                if dangling != 0 {
                    findings.push(format!("foreign_key_check: {dangling} rows"));
                }
            }
            let checks = [
                (
                    "used codes whose family does not exist",
                    "SELECT COUNT(*) AS n FROM oauth_authorization_codes c WHERE c.family_id IS NOT NULL \
                     AND NOT EXISTS (SELECT 1 FROM oauth_token_families f WHERE f.family_id = c.family_id)",
                ),
                (
                    "families no used code started",
                    "SELECT COUNT(*) AS n FROM oauth_token_families f \
                     WHERE NOT EXISTS (SELECT 1 FROM oauth_authorization_codes c WHERE c.family_id = f.family_id)",
                ),
                (
                    "codes minus their audit lines",
                    "SELECT (SELECT COUNT(*) FROM oauth_authorization_codes) \
                     - (SELECT COUNT(*) FROM audit_events WHERE action = 'oauth.code_issued') AS n",
                ),
                (
                    "families minus their audit lines",
                    "SELECT (SELECT COUNT(*) FROM oauth_token_families) \
                     - (SELECT COUNT(*) FROM audit_events WHERE action = 'oauth.token_issued') AS n",
                ),
                (
                    // A family starts at generation 1; each rotation adds one.
                    "rotations minus their audit lines",
                    "SELECT (SELECT COALESCE(SUM(generation - 1), 0) FROM oauth_token_families) \
                     - (SELECT COUNT(*) FROM audit_events WHERE action = 'oauth.token_refreshed') AS n",
                ),
            ];
            for (what, sql) in checks {
                let n = count(conn, sql);
                if n != 0 {
                    findings.push(format!("{what}: {n}"));
                }
            }
            findings
        })
        .await;
    assert!(findings.is_empty(), "half-written state: {findings:?}");
}

/// The generation of a family as stored.
async fn stored_generation(server: &ServerProcess, family_id: &str) -> Option<i64> {
    let sql =
        format!("SELECT generation AS n FROM oauth_token_families WHERE family_id = '{family_id}'");
    server
        .raw_database(move |conn| {
            use bridgekeeper::db::Backend;
            let query = diesel::sql_query(&sql);
            match conn {
                Backend::Sqlite(c) => query.load::<Count>(c),
                Backend::Postgres(c) => query.load::<Count>(c),
            }
            .expect("family")
            .first()
            .map(|row| row.n)
        })
        .await
}

async fn every_answer_survives_a_kill_under_load(settings: &[(&str, &str)]) {
    let mut server = ServerProcess::start(settings).await;
    let clients = Clients::prepare(&server).await;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| tokio::spawn(client_loop(clients.clone(), stop.clone())))
        .collect();
    // Let the load build up, then kill the server in the middle of it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let mut ledgers = Vec::new();
    for worker in workers {
        ledgers.push(worker.await.expect("client loop"));
    }
    let answered: usize = ledgers.iter().map(|l| l.requests_answered).sum();
    let families: usize = ledgers.iter().map(|l| l.families.len()).sum();
    assert!(
        answered > 40 && families > 8,
        "too little load before the kill: {answered} answers, {families} families"
    );

    // It starts by itself on what the kill left.
    server.spawn().await;
    assert_nothing_half_written(&server).await;

    let mut checked = HashMap::from([("codes", 0), ("families", 0), ("in flight", 0)]);
    for ledger in &ledgers {
        for (code, verifier) in &ledger.codes {
            let answer = clients.exchange(code, verifier).await.expect("exchange");
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "a code given out before the kill: {}",
                answer.body
            );
            *checked.entry("codes").or_default() += 1;
        }
        for family in &ledger.families {
            let me = clients
                .api_me(&family.access_token)
                .await
                .expect("GET /api/me/");
            assert_eq!(
                me.status,
                StatusCode::OK,
                "an access token given out before the kill: {}",
                me.body
            );
            let (family_id, generation) = refresh_token_parts(&family.refresh_token);
            assert_eq!(
                access_token_family(&family.access_token).as_deref(),
                Some(family_id.as_str())
            );
            let stored = stored_generation(&server, &family_id).await;
            if family.refresh_in_flight && stored == Some(generation + 1) {
                // The refresh in flight committed; its answer (the successor) was lost
                // with the connection.
                *checked.entry("in flight").or_default() += 1;
                continue;
            }
            assert_eq!(
                stored,
                Some(generation),
                "the family of a refresh token given out before the kill"
            );
            let refreshed = clients
                .refresh(&family.refresh_token)
                .await
                .expect("refresh");
            assert_eq!(
                refreshed.status,
                StatusCode::OK,
                "a refresh token given out before the kill: {}",
                refreshed.body
            );
            // Its successor works too.
            let successor = refreshed.field("refresh_token").expect("successor");
            let again = clients.refresh(&successor).await.expect("refresh");
            assert_eq!(again.status, StatusCode::OK, "{}", again.body);
            *checked.entry("families").or_default() += 1;
        }
        if let Some((code, _)) = &ledger.exchange_in_flight {
            // Claimed and its family stored, or not claimed at all: the check above of
            // every used code's family covers both.
            let _ = code;
            *checked.entry("in flight").or_default() += 1;
        }
    }
    assert!(
        checked["codes"] + checked["families"] > 8,
        "checked {checked:?}"
    );
    assert_nothing_half_written(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_token_code_and_refresh_token_answered_before_a_kill_works_after_restart() {
    every_answer_survives_a_kill_under_load(&[]).await;
}

/// The same with `SQLITE_SYNCHRONOUS=normal`, the setting that gives up durability on
/// power loss: a process crash loses nothing with it either (the WAL is in the
/// kernel's page cache). On PostgreSQL the setting is not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_loses_nothing_answered_with_synchronous_normal_either() {
    every_answer_survives_a_kill_under_load(&[("SQLITE_SYNCHRONOUS", "normal")]).await;
}
