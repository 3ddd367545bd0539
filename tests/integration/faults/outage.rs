//! PostgreSQL stopped and started again under load, on a cluster of the test's own (the
//! suite's shared server is never stopped): requests during the outage are answered
//! 503 with `Retry-After` in each route's own shape, never 500; `/readyz` says so; the
//! same process serves again once the database is back; and no request fails on a
//! connection that died with the old server. With the shared server
//! (`TEST_DATABASE_URL`), the test database's backends are terminated instead.
//!
//! The private cluster needs PostgreSQL's server binaries (`initdb`, `pg_ctl`); where
//! none are installed the tests say so and pass.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use futures_util::future::join_all;
use reqwest::StatusCode;

use super::{free_port, Answer, Clients, Pkce, ServerProcess};

/// A PostgreSQL cluster in a temporary directory, on a port of its own.
struct PrivateCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Root may not run the server: it runs as `postgres` then.
    run_as: Option<String>,
}

impl PrivateCluster {
    fn start() -> Option<PrivateCluster> {
        let bin = postgres_bin()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let run_as = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            let status = Command::new("chown")
                .args([&format!("{user}:{user}"), &dir.path().display().to_string()])
                .status()
                .expect("chown");
            assert!(status.success(), "chown the cluster's directory to {user}");
        }
        let cluster = PrivateCluster {
            bin,
            dir,
            port: free_port(),
            run_as,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        cluster.start_server();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program).display().to_string();
        let output = match &self.run_as {
            Some(user) => Command::new("runuser")
                .args(["-u", user, "--", &program])
                .args(args)
                .output(),
            None => Command::new(&program).args(args).output(),
        }
        .expect("run a PostgreSQL program");
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// A fast shutdown: every backend is told to end, open connections are closed.
    fn stop_server(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    fn create_database(&self, name: &str) -> String {
        let mut conn = diesel::PgConnection::establish(&self.url("postgres")).expect("connect");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create database");
        self.url(name)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl").display().to_string();
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = match &self.run_as {
            Some(user) => Command::new("runuser")
                .args(["-u", user, "--", &program])
                .args(args)
                .output(),
            None => Command::new(&program).args(args).output(),
        };
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Where `initdb` and `pg_ctl` are: `pg_config --bindir`, or Debian's versioned
/// directories.
fn postgres_bin() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut candidates: Vec<PathBuf> = from_pg_config.into_iter().collect();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

fn private_cluster_or_skip(test: &str) -> Option<PrivateCluster> {
    let cluster = PrivateCluster::start();
    if cluster.is_none() {
        eprintln!("{test}: no PostgreSQL server binaries (initdb, pg_ctl) found; not run");
    }
    cluster
}

const BEFORE: u8 = 0;
const OUTAGE: u8 = 1;
const RECOVERING: u8 = 2;
const AFTER: u8 = 3;

#[derive(Debug)]
struct Seen {
    /// The phase when the request was sent, and when its answer came.
    sent: u8,
    answered: u8,
    route: &'static str,
    answer: Result<Answer, String>,
}

/// One client's mix of requests (a token grant, an API call, a page, an authorization)
/// until the phase is past `AFTER`, each answer kept with the phase it came in.
async fn mixed_load(
    clients: Clients,
    access_token: String,
    phase: Arc<AtomicU8>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut turn = 0u32;
    while phase.load(Ordering::Relaxed) <= AFTER {
        turn += 1;
        let at = phase.load(Ordering::Relaxed);
        let (route, answer) = match turn % 4 {
            0 => ("token", clients.client_credentials().await),
            1 => ("api", clients.api_me(&access_token).await),
            2 => ("page", clients.dashboard().await),
            _ => (
                "authorize",
                clients.authorize(&Pkce::new()).await.map(|(a, _)| a),
            ),
        };
        let answer = answer.map_err(|e| format!("{e:?}"));
        seen.lock().expect("seen").push(Seen {
            sent: at,
            answered: phase.load(Ordering::Relaxed),
            route,
            answer,
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A refresh token family's access token, from one PKCE flow.
async fn access_token(clients: &Clients) -> String {
    let pkce = Pkce::new();
    let (_, code) = clients.authorize(&pkce).await.expect("authorize");
    let tokens = clients
        .exchange(&code.expect("code"), &pkce.verifier)
        .await
        .expect("exchange");
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    tokens.field("access_token").expect("access token")
}

fn is_success(answer: &Answer) -> bool {
    answer.status.is_success() || answer.status.is_redirection()
}

/// An outage answer in the route's own shape: 503, `Retry-After`, no internals.
fn assert_unavailable_in_the_routes_shape(route: &str, answer: &Answer, port: u16) {
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{route}: {answer:?}"
    );
    assert_eq!(
        answer
            .headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("5"),
        "{route}: {answer:?}"
    );
    for internal in ["postgres", "connection", &port.to_string(), "refused"] {
        assert!(
            !answer.body.to_ascii_lowercase().contains(internal),
            "{route} shows {internal:?}: {}",
            answer.body
        );
    }
    let content_type = answer
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match route {
        "token" => assert_eq!(
            answer.field("error").as_deref(),
            Some("temporarily_unavailable")
        ),
        "api" => {
            assert_eq!(
                answer.field("error").as_deref(),
                Some("service_unavailable")
            );
            assert!(answer.field("message").is_some(), "{answer:?}");
        }
        _ => assert!(content_type.starts_with("text/html"), "{route}: {answer:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load_gives_503_with_retry_after_then_recovers_without_a_restart()
{
    let Some(cluster) = private_cluster_or_skip("postgres_restarted_under_load") else {
        return;
    };
    let url = cluster.create_database("bridgekeeper");
    let server = ServerProcess::start_with_database(&url, &[("DATABASE_POOL_SIZE", "4")]).await;
    let pid = server.pid();
    let clients = Clients::prepare(&server).await;
    let token = access_token(&clients).await;
    let phase = Arc::new(AtomicU8::new(BEFORE));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let load: Vec<_> = (0..6)
        .map(|_| {
            tokio::spawn(mixed_load(
                clients.clone(),
                token.clone(),
                phase.clone(),
                seen.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    phase.store(OUTAGE, Ordering::Relaxed);
    cluster.stop_server();
    let outage_started = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ready = super::answer(clients.http.get(clients.url("/readyz")))
        .await
        .expect("/readyz");
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");
    assert_eq!(ready.field("status").as_deref(), Some("unavailable"));
    assert!(
        outage_started.elapsed() < Duration::from_secs(4),
        "/readyz answered at once during the outage"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;

    cluster.start_server();
    phase.store(RECOVERING, Ordering::Relaxed);
    let back = Instant::now();
    loop {
        let ready = super::answer(clients.http.get(clients.url("/readyz"))).await;
        if ready.is_ok_and(|r| r.status == StatusCode::OK) {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "not ready 30 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_after = back.elapsed();
    phase.store(AFTER, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    phase.store(AFTER + 1, Ordering::Relaxed);
    for worker in load {
        worker.await.expect("load");
    }
    assert_eq!(server.pid(), pid, "the same process throughout");

    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    let mut unavailable = std::collections::BTreeMap::<&str, usize>::new();
    for s in &seen {
        let answer = match &s.answer {
            Ok(answer) => answer,
            Err(e) => panic!("{} got no answer (sent in phase {}): {e}", s.route, s.sent),
        };
        assert!(
            answer.status != StatusCode::INTERNAL_SERVER_ERROR,
            "{}: {answer:?}\n{}",
            s.route,
            server.log()
        );
        assert_ne!(
            answer.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}: {answer:?}",
            s.route
        );
        // Answered wholly before the outage, or sent once the service was ready
        // again: a success. In between: a success or an outage answer.
        match (s.sent, s.answered) {
            (BEFORE, BEFORE) | (AFTER, _) => assert!(
                is_success(answer),
                "{} sent in phase {}: {answer:?}\n{}",
                s.route,
                s.sent,
                server.log()
            ),
            _ if is_success(answer) => {}
            _ => {
                assert_unavailable_in_the_routes_shape(s.route, answer, cluster.port);
                *unavailable.entry(s.route).or_default() += 1;
            }
        }
    }
    for route in ["token", "api", "page", "authorize"] {
        assert!(
            unavailable.get(route).copied().unwrap_or(0) > 0,
            "no 503 seen for {route} during the outage: {unavailable:?}"
        );
    }
    eprintln!(
        "ready again {recovered_after:?} after the database came back; 503s: {unavailable:?}"
    );
}

/// Requests of every kind at once, more than the pool holds: all must succeed.
async fn burst(clients: &Clients, token: &str) -> Vec<(&'static str, Answer)> {
    let mut requests = Vec::new();
    for i in 0..16 {
        let clients = clients.clone();
        let token = token.to_owned();
        requests.push(async move {
            let (route, answer) = match i % 3 {
                0 => ("token", clients.client_credentials().await),
                1 => ("api", clients.api_me(&token).await),
                _ => ("page", clients.dashboard().await),
            };
            (route, answer.expect("an answer"))
        });
    }
    join_all(requests).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_that_died_with_a_postgres_restart_fail_no_request() {
    let Some(cluster) = private_cluster_or_skip("connections_that_died_with_a_postgres_restart")
    else {
        return;
    };
    let url = cluster.create_database("bridgekeeper");
    let server = ServerProcess::start_with_database(&url, &[("DATABASE_POOL_SIZE", "4")]).await;
    let clients = Clients::prepare(&server).await;
    let token = access_token(&clients).await;
    // Every pooled connection in use once, then idle.
    for (route, answer) in burst(&clients, &token).await {
        assert!(is_success(&answer), "{route}: {answer:?}");
    }
    // Between two requests the server restarts: every idle connection is now dead.
    cluster.stop_server();
    cluster.start_server();
    for (route, answer) in burst(&clients, &token).await {
        assert!(
            is_success(&answer),
            "{route} after the restart: {answer:?}\n{}",
            server.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminated_database_backends_fail_no_request() {
    let server = ServerProcess::start(&[("DATABASE_POOL_SIZE", "4")]).await;
    if server.is_sqlite() {
        // A SQLite file has no connection to lose.
        return;
    }
    let clients = Clients::prepare(&server).await;
    let token = access_token(&clients).await;
    for (route, answer) in burst(&clients, &token).await {
        assert!(is_success(&answer), "{route}: {answer:?}");
    }
    let terminated = server
        .raw_database(|conn| {
            #[derive(diesel::QueryableByName)]
            struct Terminated {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let bridgekeeper::db::Backend::Postgres(pg) = conn else {
                unreachable!("a PostgreSQL URL");
            };
            diesel::sql_query(
                "SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .get_result::<Terminated>(pg)
            .expect("terminate")
            .n
        })
        .await;
    assert!(terminated > 0, "the server's connections were terminated");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (route, answer) in burst(&clients, &token).await {
        assert!(
            is_success(&answer),
            "{route} after its connections were terminated: {answer:?}"
        );
    }
}
