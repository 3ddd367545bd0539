//! The guide's `curl` walk-through (`pkce.sh`), its blocks joined and run in bash.

use tokio::process::Command;

use super::{
    assert_in_order, business_with_stripe, person_allows, program, public_client, tool, Running,
};
use crate::support::TestApp;

const REDIRECT_URI: &str = "https://app.example.com/callback";

#[tokio::test]
async fn the_curl_walk_through_signs_in_calls_every_endpoint_refreshes_and_shows_reuse_detection() {
    for (tool_name, package) in [("curl", "curl"), ("jq", "jq"), ("openssl", "openssl")] {
        tool(tool_name, package);
    }
    let app = TestApp::spawn().await;
    let (owner, _, alice) = business_with_stripe(&app).await;
    let client = public_client(&app, &owner, REDIRECT_URI, None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("pkce.sh");
    std::fs::write(&script, program("pkce.sh")).expect("write pkce.sh");
    let mut command = Command::new(tool("bash", "bash"));
    command
        .arg(&script)
        .env("ISSUER", &app.address)
        .env("CLIENT_ID", &client.client_id)
        .env("REDIRECT_URI", REDIRECT_URI)
        .env("CUSTOMER_ID", &alice);
    let mut walk = Running::start(command);

    let authorize = walk
        .line_starting_with(&format!("{}/o/authorize/", app.address))
        .await;
    let callback = person_allows(&app, &authorize).await;
    assert!(
        callback.starts_with(&format!("{REDIRECT_URI}?code=")),
        "{callback}"
    );
    walk.line_starting_with("Then paste").await;
    walk.type_line(&callback).await;
    let output = walk.finish().await;

    assert_in_order(
        &output,
        &[
            "\"token_type\": \"Bearer\"",
            "\"Alice Active\"",
            "HTTP 201", // recorded
            "HTTP 200", // listed
            "HTTP 200", // read
            "HTTP 201", // portal session
            "HTTP 204", // forgotten
            "customer_not_recorded",
            "HTTP 404",
            "HTTP 200", // after the refresh
            "HTTP 401", // after reusing a refresh token
        ],
    );
    let (stdout, stderr) = output.split_once("--- stderr ---").expect("both streams");
    assert!(
        !stdout.contains(&callback[callback.find("code=").expect("code") + 5..][..20]),
        "the code is never printed"
    );
    assert_in_order(
        stderr,
        &[
            "token endpoint: 400 invalid_grant: the refresh token was already used",
            "token endpoint: 400 invalid_grant: the refresh token has been revoked",
        ],
    );
}
