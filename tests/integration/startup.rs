use std::process::Command;

use bridgekeeper::maintenance::Maintenance;
use reqwest::StatusCode;

use crate::support::{TestApp, TestDatabase, PASSWORD};

fn bridgekeeper() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bridgekeeper"));
    // Only what a test sets: no developer .env, no inherited DATABASE_URL.
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ready");
}

#[test]
fn a_bad_database_url_stops_startup_with_exit_code_2_and_says_how_to_fix_it() {
    let output = bridgekeeper()
        .env("DATABASE_URL", "mysql://root@localhost/db")
        .output()
        .expect("run binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(stderr.contains("postgres://"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_unreachable_database_stops_startup_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = bridgekeeper()
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")
        .env("DATA_DIR", dir.path())
        .env("BIND_ADDRESS", "127.0.0.1:0")
        .output()
        .expect("run binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Check DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_invalid_setting_names_the_variable_and_exits_2() {
    let output = bridgekeeper()
        .env("LOGIN_MAX_FAILURES_PER_ACCOUNT", "many")
        .output()
        .expect("run binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LOGIN_MAX_FAILURES_PER_ACCOUNT"),
        "{stderr}"
    );
    assert!(stderr.contains("whole number"), "{stderr}");
}

#[tokio::test]
async fn admin_and_user_accounts_can_be_created_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::create(dir.path()).await;
    let run = |args: &[&str]| {
        bridgekeeper()
            .args(args)
            .env("DATABASE_URL", db.url())
            .env("DATA_DIR", dir.path())
            .env("BRIDGEKEEPER_PASSWORD", PASSWORD)
            .output()
            .expect("run binary")
    };
    let output = run(&["admin", "create", "--email", "Root@Platform.test"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created admin root@platform.test"));

    let output = run(&[
        "user",
        "create",
        "--email",
        "owner@acme.test",
        "--business-name",
        "Acme",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let output = run(&[
        "user",
        "create",
        "--email",
        "owner@acme.test",
        "--business-name",
        "Acme",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));

    let output = run(&["user", "create", "--email", "x@acme.test"]);
    assert_eq!(output.status.code(), Some(2), "a business needs a name");
    let output = run(&["migrate"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("up to date"));
}

#[test]
fn without_a_password_or_terminal_the_cli_says_how_to_pass_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = bridgekeeper()
        .args(["admin", "create", "--email", "root@platform.test"])
        .env("DATA_DIR", dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run binary");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("BRIDGEKEEPER_PASSWORD"));
}

fn maintenance(app: &TestApp) -> Maintenance {
    Maintenance::new(
        app.state.db.clone(),
        app.state.oauth.clone(),
        app.state.sessions.clone(),
        &app.state.settings,
    )
}

#[tokio::test]
async fn expired_failed_login_records_are_pruned() {
    let app = TestApp::spawn().await;
    app.log_in("nobody@acme.test", "wrong password!").await;
    let window = app.state.settings.login_throttle.window_seconds;
    let now = app.clock_now();
    let pruned = maintenance(&app).prune_once(now).await.expect("prune");
    assert_eq!(pruned.auth_failures, 0, "recent failures are kept");
    let pruned = maintenance(&app)
        .prune_once(now + window + 1)
        .await
        .expect("prune");
    assert_eq!(pruned.auth_failures, 2, "the account's and the IP's record");
}

#[tokio::test]
async fn audit_lines_older_than_the_retention_period_are_pruned() {
    let app = TestApp::builder()
        .with_env("AUDIT_RETENTION_DAYS", "30")
        .spawn()
        .await;
    app.create_account("owner@acme.test", false).await;
    let now = app.clock_now();
    let lines = || async {
        bridgekeeper::audit::recent(&app.state.db, None, 100)
            .await
            .expect("audit log")
            .len()
    };
    assert_eq!(lines().await, 1, "the account's creation");
    let pruned = maintenance(&app)
        .prune_once(now + 30 * 86_400)
        .await
        .expect("prune");
    assert_eq!(pruned.audit_lines, 0, "30 days old is kept");
    let pruned = maintenance(&app)
        .prune_once(now + 30 * 86_400 + 1)
        .await
        .expect("prune");
    assert_eq!(pruned.audit_lines, 1);
    assert_eq!(lines().await, 0);
}

#[tokio::test]
async fn every_down_migration_undoes_its_up_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::create(dir.path()).await;
    let url = bridgekeeper::db::DatabaseUrl::parse(db.url()).expect("url");
    tokio::task::spawn_blocking(move || {
        bridgekeeper::db::run_migrations(&url).expect("up");
        bridgekeeper::db::revert_all_migrations(&url).expect("down");
        // Up again from nothing: the down migrations left no table behind.
        bridgekeeper::db::run_migrations(&url).expect("up again");
    })
    .await
    .expect("task");
}

#[test]
fn the_service_prints_its_url_and_the_first_admin_hint_then_stops_gracefully_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = bridgekeeper()
        .env("DATA_DIR", dir.path())
        .env("BIND_ADDRESS", "127.0.0.1:0")
        .env("SANDBOX_STRIPE_ADDRESS", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start service");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = String::new();
    while !printed.contains("admin create") {
        match lines.next() {
            Some(Ok(line)) => printed.push_str(&line),
            _ => break,
        }
    }
    assert!(
        printed.contains("listening on http://127.0.0.1:"),
        "{printed}"
    );
    assert!(printed.contains("admin create --email"), "{printed}");
    assert!(dir.path().join("bridgekeeper.db").exists());
    assert!(dir.path().join("master.key").exists());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}

#[tokio::test]
async fn on_sqlite_the_data_directory_and_database_files_are_readable_by_the_service_alone() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    let database = data.join("bridgekeeper.db");
    let app = TestApp::builder()
        .with_env("DATA_DIR", &data.display().to_string())
        .with_env("DATABASE_URL", &format!("sqlite://{}", database.display()))
        .spawn()
        .await;
    // A write, so the WAL and its shared memory exist.
    app.create_account("owner@acme.test", false).await;

    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data), 0o700, "the data directory");
    for file in [
        "bridgekeeper.db",
        "bridgekeeper.db-wal",
        "bridgekeeper.db-shm",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}
