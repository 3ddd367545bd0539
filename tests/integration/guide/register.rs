//! The guide's `bridgekeeper client create` commands, run as written.

use serde_json::Value;
use tokio::process::Command;

use super::{program, tool};
use crate::support::TestApp;

#[tokio::test]
async fn the_guides_cli_commands_register_a_spa_a_cli_and_a_back_end() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    // `bridgekeeper` on PATH is this build, pointed at the test server's database.
    let bin = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_bridgekeeper"),
        bin.path().join("bridgekeeper"),
    )
    .expect("symlink");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new(tool("bash", "bash"))
        .arg("-c")
        .arg(format!("set -euo pipefail\n{}", program("register.sh")))
        .env_clear()
        .env("PATH", path)
        .env("DATABASE_URL", &app.database_url)
        .env("MASTER_KEY", &app.master_key)
        .env("DATA_DIR", bin.path())
        .env("LOG_LEVEL", "warn")
        .output()
        .await
        .expect("run register.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let clients: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .map(|c| c.expect("each command prints one JSON object"))
        .collect();
    let [spa, cli, back_end] = clients.as_slice() else {
        panic!("three clients expected:\n{stdout}");
    };
    assert_eq!(spa["type"], "public");
    assert_eq!(spa["redirect_uris"][0], "https://app.example.com/callback");
    assert_eq!(spa["cors_origins"][0], "https://app.example.com");
    assert_eq!(spa["refresh_tokens"], true);
    assert!(
        spa.get("client_secret").is_none(),
        "public clients have no secret"
    );
    assert_eq!(cli["redirect_uris"][0], "http://127.0.0.1/callback");
    assert_eq!(back_end["type"], "confidential");
    assert_eq!(back_end["grant_types"][0], "client_credentials");
    assert!(back_end["client_secret"].is_string(), "shown this once");

    let registered = bridgekeeper::oauth::clients::list(&app.state.db, None)
        .await
        .expect("list");
    assert_eq!(registered.len(), 3, "the server sees all three");
}
