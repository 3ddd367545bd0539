use diesel::prelude::*;
use reqwest::StatusCode;

use crate::support::{location, TestApp};

const SECRET_KEY: &str = "sk_test_51PlatformSecretKeyForTests0000000000000000000000abcd";

fn stripe_form<'a>(secret_key: &'a str, publishable: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("secret_key", secret_key),
        ("publishable_key", publishable),
        ("connect_client_id", "ca_FkyHCg7X8mlvCUdMDao4mMxagUfhIwXb"),
        ("new_webhook_secret", "whsec_testsigningsecret0001"),
    ]
}

#[tokio::test]
async fn admins_see_the_admin_tab_and_area() {
    let app = TestApp::spawn().await;
    app.logged_in_admin("admin@platform.test").await;
    let page = app
        .get("/dashboard/oauth/")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains(">Admin</a>"));
    for path in ["/admin/", "/admin/stripe/", "/admin/audit/"] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_business_account_gets_403_from_every_admin_page_and_form() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    for path in ["/admin/", "/admin/stripe/", "/admin/audit/"] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let response = app
        .post_form("/admin/stripe/", &stripe_form(SECRET_KEY, "pk_test_abc123"))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let stored = bridgekeeper::stripe::platform_settings::masked(&app.state.db)
        .await
        .expect("read");
    assert!(stored.secret_key_hint.is_none(), "nothing was saved");
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_login_from_admin_pages() {
    let app = TestApp::spawn().await;
    let response = app.get("/admin/stripe/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/login?next="));
}

#[tokio::test]
async fn saved_stripe_secrets_are_shown_masked_and_stored_encrypted() {
    let app = TestApp::spawn().await;
    app.logged_in_admin("admin@platform.test").await;
    let response = app
        .post_form("/admin/stripe/", &stripe_form(SECRET_KEY, "pk_test_abc123"))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let page = app.get("/admin/stripe/").await.text().await.expect("body");
    assert!(page.contains("sk_test_…abcd"), "masked hint shown");
    assert!(page.contains("whsec_…0001"));
    assert!(!page.contains(SECRET_KEY));
    assert!(!page.contains("whsec_testsigningsecret0001"));

    // Read the raw rows: no plaintext anywhere.
    let raw: Vec<u8> = app
        .raw_database(|conn| {
            use bridgekeeper::db::schema::{
                stripe_platform_settings as s, stripe_webhook_secrets as w,
            };
            let mut key: Vec<u8> = s::table
                .select(s::secret_key_sealed)
                .first(conn)
                .expect("row");
            let secret: Vec<u8> = w::table.select(w::secret_sealed).first(conn).expect("row");
            key.extend(secret);
            key
        })
        .await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(!raw.contains("sk_test_51Platform"));
    assert!(!raw.contains("whsec_testsigning"));

    // The service itself can still open them.
    let creds =
        bridgekeeper::stripe::platform_settings::credentials(&app.state.db, &app.state.secret_box)
            .await
            .expect("open")
            .expect("configured");
    assert_eq!(creds.secret_key.expose(), SECRET_KEY);
    assert_eq!(
        creds.webhook_secrets,
        vec!["whsec_testsigningsecret0001".to_owned()]
    );
}

#[tokio::test]
async fn invalid_stripe_values_are_refused_with_a_clear_message_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.logged_in_admin("admin@platform.test").await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            stripe_form("pk_test_wrongkind", "pk_test_abc"),
            "starts with sk_test_ or sk_live_",
        ),
        (
            stripe_form(SECRET_KEY, "sk_test_abc"),
            "starts with pk_test_ or pk_live_",
        ),
        (
            stripe_form(SECRET_KEY, "pk_live_abc123"),
            "both be test keys or both be live keys",
        ),
        (
            vec![
                ("secret_key", SECRET_KEY),
                ("publishable_key", "pk_test_abc"),
                ("connect_client_id", "acct_123"),
            ],
            "starts with ca_",
        ),
        (
            vec![
                ("secret_key", SECRET_KEY),
                ("publishable_key", "pk_test_abc"),
                ("connect_client_id", "ca_123"),
                ("new_webhook_secret", "secret_123"),
            ],
            "starts with whsec_",
        ),
    ];
    for (form, message) in cases {
        let response = app.post_form("/admin/stripe/", &form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{message}");
        assert!(
            response.text().await.expect("body").contains(message),
            "{message}"
        );
    }
    let stored = bridgekeeper::stripe::platform_settings::masked(&app.state.db)
        .await
        .expect("read");
    assert!(stored.secret_key_hint.is_none());
    assert!(stored.webhook_secrets.is_empty());
}

#[tokio::test]
async fn a_blank_secret_key_keeps_the_stored_one_and_secrets_can_be_rotated() {
    let app = TestApp::spawn().await;
    app.logged_in_admin("admin@platform.test").await;
    app.post_form("/admin/stripe/", &stripe_form(SECRET_KEY, "pk_test_abc123"))
        .await;
    let response = app
        .post_form(
            "/admin/stripe/",
            &[
                ("secret_key", ""),
                ("publishable_key", "pk_test_abc123"),
                ("connect_client_id", "ca_FkyHCg7X8mlvCUdMDao4mMxagUfhIwXb"),
                ("new_webhook_secret", "whsec_rotatedsecret0002"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let creds =
        bridgekeeper::stripe::platform_settings::credentials(&app.state.db, &app.state.secret_box)
            .await
            .expect("open")
            .expect("configured");
    assert_eq!(creds.secret_key.expose(), SECRET_KEY);
    assert_eq!(
        creds.webhook_secrets.len(),
        2,
        "old and new secret both active"
    );

    let stored = bridgekeeper::stripe::platform_settings::masked(&app.state.db)
        .await
        .expect("read");
    let (first_id, _) = stored.webhook_secrets[0];
    let response = app
        .post_form(
            &format!("/admin/stripe/webhook-secrets/{first_id}/delete"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored = bridgekeeper::stripe::platform_settings::masked(&app.state.db)
        .await
        .expect("read");
    assert_eq!(stored.webhook_secrets.len(), 1);
    assert!(stored.webhook_secrets[0].1.ends_with("0002"));
}

#[tokio::test]
async fn admin_sees_settings_changes_in_the_audit_log_without_secrets() {
    let app = TestApp::spawn().await;
    app.logged_in_admin("admin@platform.test").await;
    app.post_form("/admin/stripe/", &stripe_form(SECRET_KEY, "pk_test_abc123"))
        .await;
    let page = app.get("/admin/audit/").await.text().await.expect("body");
    assert!(page.contains("stripe.settings_saved"));
    assert!(page.contains("stripe.webhook_secret_added"));
    assert!(page.contains("session.login"));
    assert!(page.contains("admin@platform.test"));
    assert!(!page.contains(SECRET_KEY));
}
