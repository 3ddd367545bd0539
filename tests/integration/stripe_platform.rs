//! Outside the sandbox: with platform keys configured the service uses them and the
//! configured Stripe hosts; and the emulator runs on its own from the command line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use bridgekeeper::clock::ManualClock;
use bridgekeeper::config::Settings;
use bridgekeeper::crypto::MasterKey;
use bridgekeeper::events::Actor;
use bridgekeeper::startup::{self, Application};
use bridgekeeper::stripe::platform_settings::{self, SettingsForm};

use crate::stripe_client::{Loopback, CLIENT_ID, SECRET_KEY};
use crate::support::TestDatabase;

#[tokio::test]
async fn configured_keys_turn_the_sandbox_off_and_the_client_uses_them() {
    let stripe = Loopback::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::create(dir.path()).await;
    let base = stripe
        .emulator
        .base_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let env: std::collections::HashMap<&str, String> = [
        ("BIND_ADDRESS", "127.0.0.1:0".to_owned()),
        ("SANDBOX_STRIPE_ADDRESS", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", db.url().to_owned()),
        ("DATA_DIR", dir.path().display().to_string()),
        ("MASTER_KEY", MasterKey::generate().to_base64()),
        ("STRIPE_API_BASE", base.clone()),
        ("STRIPE_CONNECT_BASE", base.clone()),
    ]
    .into_iter()
    .collect();
    let settings = Settings::from_lookup(|k| env.get(k).cloned()).expect("settings");
    let opened_settings = settings.clone();
    let database = tokio::task::spawn_blocking(move || startup::open_database(&opened_settings))
        .await
        .expect("task")
        .expect("database");
    let master_key = startup::load_master_key(&settings).expect("key");
    let secret_box = bridgekeeper::crypto::SecretBox::new(&master_key);
    platform_settings::save(
        &database,
        &secret_box,
        0,
        SettingsForm {
            secret_key: SECRET_KEY.into(),
            publishable_key: "pk_test_platform0000000000".into(),
            connect_client_id: CLIENT_ID.into(),
            new_webhook_secret: "whsec_platformsecret000000".into(),
        },
        Actor::system("test"),
    )
    .await
    .expect("saved");

    let app = Application::build_with_clock(settings, Arc::new(ManualClock::starting_now()))
        .await
        .expect("starts");
    assert!(app.stripe_emulator().is_none());
    let state = app.state().clone();
    assert!(!state.sandbox);
    assert!(state.sandbox_dashboard_url.is_none());
    let credentials = state
        .stripe
        .credentials(&state.db, &state.secret_box)
        .await
        .expect("credentials");
    assert_eq!(credentials.webhook_secrets, ["whsec_platformsecret000000"]);
    let client = state
        .stripe
        .client(&state.db, &state.secret_box)
        .await
        .expect("client");
    let url = client.authorize_url("https://a.test/cb", "s", "e@a.test", "A");
    assert!(
        url.as_str()
            .starts_with(&format!("{base}/oauth/authorize?")),
        "{url}"
    );
    let account = stripe.demo_account();
    let token = client
        .exchange_code(&stripe.emulator.approve(&account))
        .await
        .expect("the platform key is accepted by 'Stripe'");
    assert_eq!(token.stripe_user_id, account);
}

#[tokio::test]
async fn the_emulator_runs_standalone_from_the_command_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bridgekeeper"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SANDBOX_SECRET_KEY", "sk_test_benchmarkkey000000")
        .args(["stripe-emulator", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary runs");
    let stdout = child.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(6)
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    })
    .await
    .expect("read");
    let base = lines[0]
        .strip_prefix("Stripe emulator listening on ")
        .expect("first line names the address")
        .trim_end_matches('/')
        .to_owned();
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/subscriptions"))
        .bearer_auth("sk_test_benchmarkkey000000")
        .header("Stripe-Version", "2026-10-28.endive")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["object"], "list");
    assert!(lines.iter().any(|l| l.contains("merchant dashboard")));
    let _ = child.kill();
    let _ = child.wait();
}
