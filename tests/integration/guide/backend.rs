//! The guide's back end (`backend.sh`): client credentials, then the customers API.

use bridgekeeper::oauth::registration::ClientForm;
use reqwest::StatusCode;
use serde_json::json;
use tokio::process::Command;

use super::{assert_in_order, business_with_stripe, program, tool};
use crate::oauth::{register, spa_form, spa_tokens};
use crate::support::TestApp;

/// The "nightly sync" client of the guide's `register.sh`.
fn nightly_sync() -> ClientForm {
    ClientForm {
        name: "Acme nightly sync".into(),
        client_type: "confidential".into(),
        redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["customers:read".into()],
        cors_origins: vec![],
        issue_refresh_tokens: false,
        always_ask_consent: false,
    }
}

async fn run_backend(app: &TestApp, client_id: &str, secret: &str) -> (bool, String, String) {
    let output = Command::new(tool("bash", "bash"))
        .arg("-c")
        .arg(program("backend.sh"))
        .env("ISSUER", &app.address)
        .env("CLIENT_ID", client_id)
        .env("CLIENT_SECRET", secret)
        .output()
        .await
        .expect("run backend.sh");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_back_end_gets_a_token_with_its_secret_and_lists_the_business_customers() {
    for (tool_name, package) in [("curl", "curl"), ("jq", "jq")] {
        tool(tool_name, package);
    }
    let app = TestApp::spawn().await;
    let (owner, _, alice) = business_with_stripe(&app).await;
    // The business's web app recorded a customer earlier.
    let (spa, _) = register(&app, &owner, spa_form()).await;
    let spa_token = spa_tokens(&app, &spa).await.body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let recorded = reqwest::Client::new()
        .post(app.url("/api/customers/"))
        .bearer_auth(&spa_token)
        .json(&json!({ "customer_id": alice }))
        .send()
        .await
        .expect("POST /api/customers/");
    assert_eq!(recorded.status(), StatusCode::CREATED);
    let (back_end, secret) = register(&app, &owner, nightly_sync()).await;
    let secret = secret.expect("a confidential client has a secret");

    let (succeeded, stdout, stderr) = run_backend(&app, &back_end.client_id, &secret).await;
    assert!(succeeded, "{stdout}\n--- stderr ---\n{stderr}");
    assert_in_order(
        &stdout,
        &[
            "\"token_type\": \"Bearer\"",
            "\"scope\": \"customers:read\"",
            "\"refresh_token\": null",
            &format!("\"client_id\":\"{}\"", back_end.client_id),
            &format!("\"token_subject\":\"client:{}\"", back_end.client_id),
            "HTTP 200",
            &format!("\"customer_id\":\"{alice}\""),
            "\"Alice Active\"",
            "HTTP 200",
        ],
    );
    assert!(!stdout.contains(&secret), "the secret is never printed");

    let (succeeded, stdout, stderr) = run_backend(&app, &back_end.client_id, "wrong").await;
    assert!(!succeeded, "a wrong secret stops the program: {stdout}");
    assert!(
        stderr.contains("token endpoint: 401 invalid_client"),
        "{stderr}"
    );
}
