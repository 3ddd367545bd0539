//! Transactions that lose to a concurrent one are run again by `Database::write`, for
//! any use case; and the token endpoint's writes lock rows in one order, so they never
//! deadlock in the first place.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridgekeeper::db::types::GrantId;
use bridgekeeper::db::{oauth_grants, DbError};
use bridgekeeper::events::Actor;
use diesel::RunQueryDsl;
use futures_util::future::{join_all, BoxFuture};
use futures_util::FutureExt;
use reqwest::StatusCode;

use crate::oauth::{
    authorize_query, business_with_spa, code_for, exchange, refresh, register, revoke, spa_form,
    Pkce, TokenAnswer,
};
use crate::support::TestApp;

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

async fn grant_ids(app: &TestApp) -> Vec<GrantId> {
    app.raw_database(|conn| {
        use bridgekeeper::db::Backend;
        let query = diesel::sql_query("SELECT id FROM oauth_grants ORDER BY id");
        match conn {
            Backend::Sqlite(c) => query.load::<Id>(c),
            Backend::Postgres(c) => query.load::<Id>(c),
        }
        .expect("grants")
        .into_iter()
        .map(|row| GrantId(row.id))
        .collect()
    })
    .await
}

/// Deadlocks PostgreSQL detected in the test's database (its statistics, read once
/// the backends that met them have ended and reported). `None` on SQLite.
async fn deadlocks_detected(app: &TestApp) -> Option<i64> {
    app.raw_database(|conn| {
        #[derive(diesel::QueryableByName)]
        struct Deadlocks {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            deadlocks: i64,
        }
        let bridgekeeper::db::Backend::Postgres(pg) = conn else {
            return None;
        };
        // Ending the service's backends makes them report their statistics now.
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(pg)
        .expect("terminate");
        std::thread::sleep(Duration::from_millis(500));
        diesel::sql_query("SELECT pg_stat_clear_snapshot()")
            .execute(pg)
            .expect("snapshot");
        Some(
            diesel::sql_query(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
            )
            .get_result::<Deadlocks>(pg)
            .expect("pg_stat_database")
            .deadlocks,
        )
    })
    .await
}

/// Two use cases lock the same two rows in opposite orders, each waiting until the
/// other holds its first. On PostgreSQL that is a deadlock: the server aborts one, and
/// `Database::write` runs it again, so both succeed (three runs in all). On SQLite the
/// one writer runs them one after the other (two runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_use_case_that_lost_a_deadlock_is_run_again_and_succeeds() {
    let app = TestApp::spawn().await;
    let (user, first_client) = business_with_spa(&app).await;
    let (second_client, _) = register(&app, &user, spa_form()).await;
    for client in [&first_client, &second_client] {
        code_for(&app, &authorize_query(&client.client_id, &Pkce::new(), &[])).await;
    }
    let grants = grant_ids(&app).await;
    assert_eq!(grants.len(), 2);
    let runs = Arc::new(AtomicUsize::new(0));
    let holding = Arc::new(AtomicUsize::new(0));
    let use_case = |first: GrantId, second: GrantId| {
        let (runs, holding) = (runs.clone(), holding.clone());
        move |tx: &mut bridgekeeper::events::Tx<'_>| {
            runs.fetch_add(1, Ordering::SeqCst);
            oauth_grants::set_scope(tx.conn, first, "customers:read", 1)?;
            holding.fetch_add(1, Ordering::SeqCst);
            let started = Instant::now();
            while holding.load(Ordering::SeqCst) < 2 && started.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(5));
            }
            oauth_grants::set_scope(tx.conn, second, "customers:read", 1)?;
            Ok::<_, DbError>(())
        }
    };
    let (a, b) = tokio::join!(
        app.state.db.write(use_case(grants[0], grants[1])),
        app.state.db.write(use_case(grants[1], grants[0])),
    );
    a.expect("the first use case");
    b.expect("the second use case");
    match deadlocks_detected(&app).await {
        Some(deadlocks) => {
            assert_eq!(deadlocks, 1, "PostgreSQL met the deadlock");
            assert_eq!(runs.load(Ordering::SeqCst), 3, "the loser ran again");
        }
        None => assert_eq!(runs.load(Ordering::SeqCst), 2),
    }
}

/// Everything that touches one grant's token families at once: refreshes of current
/// tokens, reuses of rotated-out ones, revocations, code exchanges and replays, the
/// grant's revocation, the periodic cleanup and the client's deletion. Every
/// answer is a protocol answer, and PostgreSQL never had to break a deadlock: the
/// rows are locked in one order (`db::lock_order`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_token_families_of_one_grant_never_deadlock_whatever_runs_at_once() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let client_id = client.client_id.clone();
    // Families to work on: each with a rotated-out and a current refresh token.
    let mut families = Vec::new();
    for _ in 0..12 {
        let pkce = Pkce::new();
        let code = code_for(&app, &authorize_query(&client_id, &pkce, &[])).await;
        let first = exchange(&app, &client_id, &code, &pkce.verifier).await;
        let old = first.refresh_token();
        let current = refresh(&app, &client_id, &old).await.refresh_token();
        families.push((code, pkce.verifier, old, current));
    }
    let fresh: Vec<(String, Pkce)> = {
        let mut fresh = Vec::new();
        for _ in 0..6 {
            let pkce = Pkce::new();
            fresh.push((
                code_for(&app, &authorize_query(&client_id, &pkce, &[])).await,
                pkce,
            ));
        }
        fresh
    };
    let grant = grant_ids(&app).await[0];

    let mut answers: Vec<BoxFuture<'_, TokenAnswer>> = Vec::new();
    for (i, (code, verifier, old, current)) in families.iter().enumerate() {
        let (app, client_id) = (&app, client_id.as_str());
        answers.push(
            async move {
                match i % 4 {
                    0 => refresh(app, client_id, current).await,
                    1 => refresh(app, client_id, old).await,
                    2 => revoke(app, client_id, current).await,
                    _ => exchange(app, client_id, code, verifier).await,
                }
            }
            .boxed(),
        );
    }
    for (code, pkce) in &fresh {
        let (app, client_id) = (&app, client_id.as_str());
        answers.push(async move { exchange(app, client_id, code, &pkce.verifier).await }.boxed());
    }
    let now = app.clock_now();
    let (answers, revoked, cleanups, deleted) = tokio::join!(
        join_all(answers),
        bridgekeeper::oauth::consent::revoke_grant(
            &app.state.db,
            user.id,
            grant,
            Actor::system("test"),
            now,
        ),
        join_all((0..3).map(|i| {
            // Far enough ahead that every family and code is past its end.
            bridgekeeper::oauth::cleanup::run_once(
                &app.state.db,
                app.state.oauth.clone(),
                now + 100 * 86_400 + i,
            )
        })),
        async {
            // The client goes while all of it runs.
            tokio::time::sleep(Duration::from_millis(20)).await;
            bridgekeeper::oauth::clients::delete(
                &app.state.db,
                &app.state.oauth.cors,
                Some(user.id),
                client_id.clone(),
                Actor::system("test"),
                now,
            )
            .await
        },
    );
    for answer in &answers {
        // A success, a refused grant, or (once the client is gone) an unknown client.
        assert!(
            [
                StatusCode::OK,
                StatusCode::BAD_REQUEST,
                StatusCode::UNAUTHORIZED
            ]
            .contains(&answer.status),
            "{}: {}",
            answer.status,
            answer.body
        );
    }
    revoked.expect("the grant's revocation");
    for cleanup in cleanups {
        cleanup.expect("the cleanup");
    }
    deleted.expect("the client's deletion");
    if let Some(deadlocks) = deadlocks_detected(&app).await {
        assert_eq!(deadlocks, 0, "PostgreSQL had to break a deadlock");
    }
}

/// A code exchange holds its code's row and then needs its grant's (a share lock, by
/// the new family's foreign key); a client's deletion cascades from the grant to the
/// codes. Unordered, the two wait for each other. The deletion locks the codes first
/// (`db::lock_order`), so the exchange finishes and the deletion follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_client_while_its_code_is_exchanged_does_not_deadlock() {
    use bridgekeeper::db::{oauth_authorization_codes, oauth_token_families};

    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let code = code_for(&app, &authorize_query(&client.client_id, &Pkce::new(), &[])).await;
    let code_hash = bridgekeeper::oauth::code::lookup_key(&app.state.oauth.hasher, &code);
    let claimed = Arc::new(AtomicUsize::new(0));
    // The exchange's two steps, with a pause between them in which the deletion starts.
    let exchange = {
        let claimed = claimed.clone();
        move |tx: &mut bridgekeeper::events::Tx<'_>| {
            let family_id =
                bridgekeeper::crypto::time_ordered_id(bridgekeeper::clock::unix_micros());
            let Some(row) = oauth_authorization_codes::claim(tx.conn, &code_hash, &family_id, 1)?
            else {
                return Ok::<_, DbError>(false);
            };
            claimed.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            oauth_token_families::insert(
                tx.conn,
                &oauth_token_families::NewOAuthTokenFamily {
                    family_id: &family_id,
                    client_pk: row.client_pk,
                    user_id: row.user_id,
                    grant_id: row.grant_id,
                    scope: &row.scope,
                    refresh_salt: None,
                    generation: 1,
                    rotated_at: 1,
                    idle_expires_at: i64::MAX,
                    absolute_expires_at: i64::MAX,
                },
            )?;
            Ok(true)
        }
    };
    let deletion = async {
        let started = Instant::now();
        while claimed.load(Ordering::SeqCst) == 0 && started.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bridgekeeper::oauth::clients::delete(
            &app.state.db,
            &app.state.oauth.cors,
            Some(user.id),
            client.client_id.clone(),
            Actor::system("test"),
            app.clock_now(),
        )
        .await
    };
    let (exchanged, deleted) = tokio::join!(app.state.db.write(exchange), deletion);
    exchanged.expect("the exchange");
    deleted.expect("the deletion");
    if let Some(deadlocks) = deadlocks_detected(&app).await {
        assert_eq!(deadlocks, 0, "PostgreSQL had to break a deadlock");
    }
}
