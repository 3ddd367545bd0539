//! The guide's command-line program (`app.py`, Authlib): signs in through a loopback
//! redirect, calls every customers endpoint, refreshes across an expired access token
//! and explains an API error.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::process::Command;

use super::{
    assert_in_order, business_with_stripe, cache_dir, person_allows, pinned_version, program,
    public_client, Running,
};
use crate::support::TestApp;

/// The virtual environment's python3, holding Authlib and requests at the guide's pins.
async fn python() -> PathBuf {
    let venv = cache_dir("GUIDE_VENV", "venv-guide");
    let python = venv.join("bin/python3");
    let pins = format!(
        "Authlib=={} requests=={}",
        pinned_version("Authlib"),
        pinned_version("requests")
    );
    let install = format!(
        "install them with `python3 -m venv {0} && {0}/bin/pip install {pins}` (scripts/test does)",
        venv.display()
    );
    let versions = Command::new(&python)
        .args([
            "-c",
            "import authlib, requests; print(f'Authlib=={authlib.__version__} requests=={requests.__version__}')",
        ])
        .output()
        .await
        .ok()
        .filter(|o| o.status.success())
        .unwrap_or_else(|| panic!("no python3 with Authlib and requests at {}: {install}", python.display()));
    assert_eq!(
        String::from_utf8_lossy(&versions.stdout).trim(),
        pins,
        "the guide pins {pins}: {install}"
    );
    python
}

struct App<'a> {
    python: PathBuf,
    script: &'a Path,
    issuer: &'a str,
    client_id: &'a str,
    token_file: PathBuf,
}

impl App<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.python);
        command
            .arg(self.script)
            .args(args)
            .env("BRIDGEKEEPER_ISSUER", self.issuer)
            .env("BRIDGEKEEPER_CLIENT_ID", self.client_id)
            .env("BRIDGEKEEPER_TOKEN_FILE", &self.token_file);
        command
    }

    /// Runs one command; returns its exit success, stdout and stderr.
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = self.command(args).output().await.expect("run app.py");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    async fn json(&self, args: &[&str]) -> Value {
        let (ok, stdout, stderr) = self.run(args).await;
        assert!(ok, "app.py {args:?} failed:\n{stdout}\n{stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
    }

    fn refresh_token(&self) -> String {
        let tokens: Value =
            serde_json::from_slice(&std::fs::read(&self.token_file).expect("token file"))
                .expect("JSON");
        tokens["refresh_token"]
            .as_str()
            .expect("a refresh token is stored")
            .to_owned()
    }
}

#[tokio::test]
async fn the_command_line_program_signs_in_on_loopback_and_calls_every_customers_endpoint() {
    let app = TestApp::spawn().await;
    let (owner, _, alice) = business_with_stripe(&app).await;
    let client = public_client(&app, &owner, "http://127.0.0.1/callback", None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("app.py");
    std::fs::write(&script, program("app.py")).expect("write app.py");
    let cli = App {
        python: python().await,
        script: &script,
        issuer: &app.address,
        client_id: &client.client_id,
        token_file: dir.path().join("tokens.json"),
    };

    let mut login = Running::start(cli.command(&["login"]));
    let authorize = login
        .line_starting_with(&format!("{}/o/authorize/", app.address))
        .await;
    let callback = person_allows(&app, &authorize).await;
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    let page = reqwest::get(&callback)
        .await
        .expect("the program's loopback server");
    assert!(page.status().is_success());
    let output = login.finish().await;
    assert!(
        output.contains("Signed in (scopes: customers:read customers:write)"),
        "{output}"
    );
    assert!(!output.contains("code="), "the code is never printed");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&cli.token_file)
            .expect("token file")
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0, "only its user can read the tokens");

    let recorded = cli.json(&["record", &alice]).await;
    assert_eq!(recorded["name"], "Alice Active");
    assert!(recorded["portal_url"].is_string());

    // The access token expires at the server: a 401, one refresh (stored), one retry.
    let refresh_token = cli.refresh_token();
    app.clock
        .advance(app.state.settings.oauth.access_token_ttl_seconds + 1);
    let listed = cli.json(&["list"]).await;
    assert_eq!(listed["data"][0]["customer_id"], alice.as_str());
    assert_ne!(
        cli.refresh_token(),
        refresh_token,
        "the rotated refresh token was saved"
    );

    assert_eq!(
        cli.json(&["show", &alice]).await["email"],
        "alice@example.com"
    );
    assert!(cli.json(&["portal", &alice]).await["url"].is_string());
    let (ok, stdout, _) = cli.run(&["forget", &alice]).await;
    assert!(ok && stdout.contains("Done."), "{stdout}");

    let (ok, _, stderr) = cli.run(&["show", &alice]).await;
    assert!(!ok, "an API error ends the program with a failure");
    assert_in_order(
        &stderr,
        &["404 customer_not_recorded", "What to do: record it first"],
    );
}
