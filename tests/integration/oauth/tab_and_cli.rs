//! The OAuth tab and the `client` / `keys` commands.

use std::process::Command;

use reqwest::StatusCode;

use super::token_endpoint::between;
use super::*;
use crate::support::{TestDatabase, PASSWORD};

#[tokio::test]
async fn a_business_registers_rotates_and_deletes_a_client_on_the_oauth_tab() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let created = app
        .post_form(
            "/dashboard/oauth/clients/",
            &[
                ("name", "Billing back end"),
                ("client_type", "confidential"),
                (
                    "redirect_uris",
                    "https://backend.test/cb\r\nhttps://backend.test/cb2",
                ),
                ("grant_types", "authorization_code"),
                ("grant_types", "client_credentials"),
                ("scopes", "customers:read"),
                ("scopes", "customers:write"),
                ("issue_refresh_tokens", "on"),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    let page = created.text().await.expect("body");
    let client_id = between(&page, "<code id=\"client-id\">", "</code>");
    let secret = between(&page, "<code id=\"client-secret\">", "</code>");
    assert!(page.contains("shown only this once"));

    let tab = app
        .get("/dashboard/oauth/")
        .await
        .text()
        .await
        .expect("body");
    assert!(tab.contains("Billing back end") && tab.contains(&client_id));
    assert!(!tab.contains(&secret), "the secret is never shown again");
    let detail = app
        .get(&format!("/dashboard/oauth/clients/{client_id}/"))
        .await
        .text()
        .await
        .expect("body");
    assert!(detail.contains("https://backend.test/cb2"));
    assert!(!detail.contains(&secret));

    let cc = [("grant_type", "client_credentials")];
    let access = token(&app, &cc, Some((&client_id, &secret))).await;
    assert_eq!(access.status, StatusCode::OK);
    let access = access.access_token();

    let rotated = app
        .post_form(
            &format!("/dashboard/oauth/clients/{client_id}/rotate-secret"),
            &[],
        )
        .await
        .text()
        .await
        .expect("body");
    let new_secret = between(&rotated, "<code id=\"client-secret\">", "</code>");
    assert_ne!(new_secret, secret);
    assert_eq!(
        token(&app, &cc, Some((&client_id, &secret))).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token(&app, &cc, Some((&client_id, &new_secret)))
            .await
            .status,
        StatusCode::OK
    );

    let deleted = app
        .post_form(&format!("/dashboard/oauth/clients/{client_id}/delete"), &[])
        .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        api_me(&app, &access).await.status(),
        StatusCode::UNAUTHORIZED,
        "its tokens died with it"
    );
    assert_eq!(
        token(&app, &cc, Some((&client_id, &new_secret)))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let tab = app
        .get("/dashboard/oauth/")
        .await
        .text()
        .await
        .expect("body");
    assert!(tab.contains("No OAuth clients yet"));
}

#[tokio::test]
async fn a_business_cannot_see_or_touch_another_businesss_clients() {
    let app = TestApp::spawn().await;
    let owner = app.create_account("owner@acme.test", false).await;
    let (client, _) = register(&app, &owner, backend_form()).await;
    app.logged_in_business("other@rival.test").await;
    let detail = app
        .get(&format!("/dashboard/oauth/clients/{}/", client.client_id))
        .await;
    assert_eq!(detail.status(), StatusCode::NOT_FOUND);
    let delete = app
        .post_form(
            &format!("/dashboard/oauth/clients/{}/delete", client.client_id),
            &[],
        )
        .await;
    assert_eq!(delete.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        clients::list(&app.state.db, None)
            .await
            .expect("list")
            .len(),
        1
    );
    let tab = app
        .get("/dashboard/oauth/")
        .await
        .text()
        .await
        .expect("body");
    assert!(!tab.contains(&client.client_id));
}

#[tokio::test]
async fn registration_errors_are_shown_on_the_form_and_store_nothing() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let response = app
        .post_form(
            "/dashboard/oauth/clients/",
            &[
                ("name", ""),
                ("client_type", "public"),
                ("redirect_uris", "https://app.test/cb"),
                ("grant_types", "client_credentials"),
                ("scopes", "customers:admin"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.expect("body");
    assert!(page.contains("name: enter a name"));
    assert!(page.contains("only for confidential clients"));
    assert!(page.contains("unknown scope"));
    assert!(clients::list(&app.state.db, None)
        .await
        .expect("list")
        .is_empty());
}

fn bridgekeeper() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bridgekeeper"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[tokio::test]
async fn clients_and_signing_keys_can_be_managed_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDatabase::create(dir.path()).await;
    let run = |args: &[&str]| {
        let output = bridgekeeper()
            .args(args)
            .env("DATABASE_URL", db.url())
            .env("DATA_DIR", dir.path())
            .env("BRIDGEKEEPER_PASSWORD", PASSWORD)
            .env("LOG_LEVEL", "warn")
            .output()
            .expect("run binary");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&[
        "user",
        "create",
        "--email",
        "owner@acme.test",
        "--business-name",
        "Acme",
    ]);
    assert_eq!(code, Some(0), "{err}");

    let (code, out, err) = run(&[
        "client",
        "create",
        "--owner",
        "owner@acme.test",
        "--name",
        "Nightly sync",
        "--type",
        "confidential",
        "--redirect-uri",
        "https://sync.test/cb",
        "--scope",
        "customers:read",
        "--grant",
        "client_credentials",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let created: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(created["type"], "confidential");
    assert_eq!(
        created["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    let client_id = created["client_id"].as_str().expect("client_id").to_owned();
    assert!(
        client_id.starts_with(|c: char| c.is_ascii_alphanumeric()),
        "never mistaken for an option: {client_id}"
    );
    let secret = created["client_secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(secret.len() >= 43);

    let (code, out, err) = run(&[
        "client",
        "create",
        "--owner",
        "owner@acme.test",
        "--name",
        "SPA",
        "--type",
        "public",
        "--redirect-uri",
        "https://app.test/cb",
        "--redirect-uri",
        "https://app.test/cb2",
        "--scope",
        "customers:read",
        "--scope",
        "customers:write",
        "--cors-origin",
        "https://app.test",
        "--grant",
        "refresh_token",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let spa: Value = serde_json::from_str(&out).expect("JSON");
    assert!(spa.get("client_secret").is_none());
    assert_eq!(spa["refresh_tokens"], true);
    assert_eq!(spa["redirect_uris"].as_array().expect("uris").len(), 2);

    let (code, _, err) = run(&[
        "client",
        "create",
        "--owner",
        "owner@acme.test",
        "--name",
        "Bad",
        "--type",
        "public",
        "--redirect-uri",
        "http://example.com/cb",
        "--scope",
        "customers:read",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("use https"), "{err}");

    let (code, out, _) = run(&["client", "list", "--owner", "owner@acme.test"]);
    assert_eq!(code, Some(0));
    let listed: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(listed.as_array().expect("array").len(), 2);
    assert!(!out.contains(&secret), "list never shows secrets");

    let (code, out, err) = run(&["keys", "rotate"]);
    assert_eq!(code, Some(0), "{err}");
    let rotated: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(rotated["algorithm"], "EdDSA");

    let (code, _, err) = run(&["client", "delete", &client_id]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["client", "delete", &client_id]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no client"), "{err}");
    let (_, out, _) = run(&["client", "list"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out)
            .expect("JSON")
            .as_array()
            .expect("array")
            .len(),
        1
    );
}
