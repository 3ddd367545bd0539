use reqwest::StatusCode;

use crate::support::{location, TestApp, PASSWORD};

#[tokio::test]
async fn sign_up_logs_the_business_in_and_shows_the_dashboard_tabs() {
    let app = TestApp::spawn().await;

    let response = app.sign_up("Acme Inc", "Owner@Acme.test", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/dashboard/oauth/");

    let page = app
        .get("/dashboard/oauth/")
        .await
        .text()
        .await
        .expect("body");
    for tab in ["OAuth", "Connect", "Customers", "API"] {
        assert!(page.contains(&format!(">{tab}</a>")), "tab {tab} missing");
    }
    assert!(
        page.contains("owner@acme.test"),
        "email is shown normalised"
    );
    assert!(!page.contains(">Admin</a>"), "a business sees no admin tab");
}

#[tokio::test]
async fn each_tab_says_what_will_be_there() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    for (path, words) in [
        ("/dashboard/oauth/", "No OAuth clients yet"),
        ("/dashboard/connect/", "Not connected"),
        ("/dashboard/customers/", "No customers recorded yet"),
        ("/dashboard/api/", "browsable API"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.text().await.expect("body").contains(words),
            "{path}"
        );
    }
}

#[tokio::test]
async fn sign_up_with_bad_fields_names_each_problem_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let response = app.sign_up("", "not-an-email", "short").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.expect("body");
    assert!(page.contains("enter your business name"));
    assert!(page.contains("enter an email address"));
    assert!(page.contains("at least 10 characters"));
    let users = bridgekeeper::accounts::list_users(&app.state.db, 10)
        .await
        .expect("list");
    assert!(users.is_empty());
}

#[tokio::test]
async fn sign_up_with_a_taken_email_is_refused() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    let response = app.sign_up("Other", "OWNER@acme.test", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("already exists"));
}

#[tokio::test]
async fn dashboard_requires_login_and_returns_there_afterwards() {
    let app = TestApp::spawn().await;
    let response = app.get("/dashboard/connect/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?next=%2Fdashboard%2Fconnect%2F");

    app.create_account("owner@acme.test", false).await;
    let login_page = app
        .get(&location(&response))
        .await
        .text()
        .await
        .expect("body");
    assert!(login_page.contains("value=\"/dashboard/connect/\""));
    let response = app
        .post_form(
            "/login",
            &[
                ("email", "owner@acme.test"),
                ("password", PASSWORD),
                ("next", "/dashboard/connect/"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/dashboard/connect/");
}

#[tokio::test]
async fn login_never_redirects_off_site() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    for hostile in [
        "//evil.test/",
        "/\t/evil.test/",
        "/\n/evil.test/",
        "/\\evil.test/",
        "https://evil.test/",
    ] {
        app.post_form("/logout", &[]).await;
        let response = app
            .post_form(
                "/login",
                &[
                    ("email", "owner@acme.test"),
                    ("password", PASSWORD),
                    ("next", hostile),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{hostile:?}");
        assert_eq!(location(&response), "/dashboard/oauth/", "{hostile:?}");
    }
}

#[tokio::test]
async fn a_login_page_whose_next_holds_control_characters_is_a_page_not_an_error() {
    let app = TestApp::spawn().await;
    for query in [
        "next=/%0A",
        "next=/%09/evil.test/",
        "next=%0D%0ALocation:%20x",
    ] {
        let response = app.get(&format!("/login?{query}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        let page = response.text().await.expect("body");
        assert!(!page.contains("evil.test/\""), "{query}");
    }
}

#[tokio::test]
async fn wrong_password_is_refused_with_the_same_words_as_an_unknown_email() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;

    let wrong_password = app.log_in("owner@acme.test", "not the password").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    let wrong_password = wrong_password.text().await.expect("body");
    let unknown = app.log_in("nobody@acme.test", "not the password").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown = unknown.text().await.expect("body");
    assert!(wrong_password.contains("Email or password is incorrect."));
    assert!(unknown.contains("Email or password is incorrect."));

    assert_eq!(
        app.get("/dashboard/oauth/").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let token = app.csrf_token("/dashboard/oauth/").await;
    let response = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
    assert_eq!(
        app.get("/dashboard/oauth/").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn repeated_wrong_passwords_throttle_the_account_even_with_the_right_one() {
    let app = TestApp::builder()
        .with_env("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")
        .spawn()
        .await;
    app.create_account("owner@acme.test", false).await;
    for _ in 0..3 {
        let response = app.log_in("owner@acme.test", "wrong password!").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.log_in("owner@acme.test", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.text().await.expect("body").contains("Please wait"));

    // The window slides: after it passes, the right password works again.
    app.clock.advance(901);
    let response = app.log_in("owner@acme.test", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn repeated_failures_from_one_ip_throttle_every_account_from_it() {
    let app = TestApp::builder()
        .with_env("LOGIN_MAX_FAILURES_PER_IP", "4")
        .spawn()
        .await;
    app.create_account("owner@acme.test", false).await;
    for i in 0..4 {
        let response = app
            .log_in(&format!("guess{i}@acme.test"), "wrong password!")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.log_in("owner@acme.test", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_is_rejected() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    let _ = app.get("/login").await; // the session exists, with its own token

    for token in [None, Some("forged-token")] {
        let mut form = vec![("email", "owner@acme.test"), ("password", PASSWORD)];
        if let Some(token) = token {
            form.push(("csrf_token", token));
        }
        let response = app
            .client
            .post(app.url("/login"))
            .form(&form)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {token:?}");
        assert!(response
            .text()
            .await
            .expect("body")
            .contains("Form expired"));
    }
    assert_eq!(
        app.get("/dashboard/oauth/").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_csrf_token_from_another_session_is_rejected() {
    let app = TestApp::spawn().await;
    let attacker = app.new_client();
    let page = attacker
        .get(app.url("/signup"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    let attackers_token = crate::support::csrf_token_in(&page);

    let _ = app.get("/signup").await;
    let response = app
        .client
        .post(app.url("/signup"))
        .form(&[
            ("business_name", "Acme"),
            ("email", "owner@acme.test"),
            ("password", PASSWORD),
            ("csrf_token", attackers_token.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    let response = app.log_in("owner@acme.test", PASSWORD).await;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .find(|c| c.starts_with("bk_session="))
        .expect("session cookie set");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: {cookie}"
    );
    assert!(
        !cookie.contains("owner@acme.test"),
        "the cookie is encrypted"
    );
}

#[tokio::test]
async fn session_cookie_is_secure_when_served_over_https() {
    let app = TestApp::builder()
        .with_env("PUBLIC_URL", "https://auth.example.test")
        .spawn()
        .await;
    let response = app.get("/login").await;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .find(|c| c.starts_with("bk_session="))
        .expect("session cookie set");
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn over_https_browsers_are_told_to_keep_to_https() {
    let app = TestApp::builder()
        .with_env("PUBLIC_URL", "https://auth.example.test")
        .spawn()
        .await;
    for path in ["/login", "/healthz", "/no-such-page"] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=63072000",
            "{path}"
        );
    }
    let plain = TestApp::spawn().await;
    let response = plain.get("/login").await;
    assert!(
        !response.headers().contains_key("strict-transport-security"),
        "never over plain http, where a browser ignores it anyway"
    );
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    for path in ["/login", "/signup", "/no-such-page", "/healthz"] {
        let response = app.get(path).await;
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().expect("ascii");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    }
}

/// BREACH: a compressed answer's length tells whether attacker-chosen text matches a
/// secret beside it, so nothing that can hold one is compressed.
#[tokio::test]
async fn only_answers_that_are_the_same_for_everyone_are_compressed() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    // The Content-Encoding of the answer to a GET that accepts gzip.
    let app = &app;
    let encoding = |path: &'static str| async move {
        let response = app
            .client
            .get(app.url(path))
            .header("accept-encoding", "gzip, br")
            .send()
            .await
            .expect("GET");
        assert!(response.status().is_success() || response.status().is_client_error());
        response
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    for path in [
        "/login?next=/dashboard/customers/",
        "/signup",
        "/dashboard/oauth/",
        "/account/",
        "/api/me/",
    ] {
        assert_eq!(encoding(path).await, None, "{path} is sent as is");
    }
    for path in [
        "/static/app.css",
        "/api/schema/",
        "/.well-known/oauth-authorization-server",
    ] {
        assert_eq!(encoding(path).await.as_deref(), Some("gzip"), "{path}");
    }
}

#[tokio::test]
async fn unknown_pages_get_a_page_and_unknown_api_paths_get_json() {
    let app = TestApp::spawn().await;
    let page = app.get("/no-such-page").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));

    for path in ["/api/nothing/", "/o/nothing/"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"], "not_found");
        assert!(body["message"].is_string());
    }
}

#[tokio::test]
async fn logins_and_sign_ups_are_written_to_the_audit_log() {
    let app = TestApp::spawn().await;
    app.sign_up("Acme", "owner@acme.test", PASSWORD).await;
    let _ = app.new_client();
    app.log_in("owner@acme.test", "wrong password!").await;
    let events = bridgekeeper::audit::recent(&app.state.db, None, 10)
        .await
        .expect("audit");
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"account.created"), "{actions:?}");
    assert!(actions.contains(&"session.login_failed"), "{actions:?}");
    let failed = events
        .iter()
        .find(|e| e.action == "session.login_failed")
        .expect("failed");
    assert_eq!(failed.ip.as_deref(), Some("127.0.0.1"));
    assert!(events.iter().all(|e| !e.detail.contains("wrong password")));
}

/// What a stranger can make the server write is bounded: a failure repeated from one
/// address is one counted line per minute (and every field is capped, see `audit`).
#[tokio::test]
async fn repeated_unknown_clients_are_one_counted_audit_line_with_capped_fields() {
    let app = TestApp::spawn().await;
    let long_id = "x".repeat(100);
    // Fewer than the throttle's limit per (client, IP), so that each is checked.
    for _ in 0..8 {
        let response = reqwest::Client::new()
            .post(app.url("/o/token/"))
            .basic_auth(&long_id, Some("guess"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let failures: Vec<_> = bridgekeeper::audit::recent(&app.state.db, None, 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "oauth.client_auth_failed")
        .collect();
    assert_eq!(failures.len(), 1, "one line for the minute");
    assert_eq!(failures[0].repeats, 8);
    let detail = &failures[0].detail;
    assert!(detail.contains(&long_id), "{detail}");
    assert!(detail.chars().count() <= bridgekeeper::audit::MAX_DETAIL_CHARS);

    app.clock.advance(60);
    let response = reqwest::Client::new()
        .post(app.url("/o/token/"))
        .basic_auth(&long_id, Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let lines = bridgekeeper::audit::recent(&app.state.db, None, 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "oauth.client_auth_failed")
        .count();
    assert_eq!(lines, 2, "the next minute starts a new line");
}
