//! Request budgets: a sender who spends its budget gets 429 with `Retry-After`, in the
//! route's shape, while other senders go on being served.

use reqwest::StatusCode;

use crate::oauth::{backend_form, register};
use crate::support::{csrf_token_in, TestApp, PASSWORD};

/// A token request from `ip` (behind our one trusted proxy) naming `client_id`.
async fn token_request(app: &TestApp, ip: &str, client_id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/o/token/"))
        .header("x-forwarded-for", ip)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
        ])
        .send()
        .await
        .expect("POST")
}

async fn assert_rate_limited_oauth_answer(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["error_description"]
        .as_str()
        .expect("a description")
        .contains("too many requests"));
}

#[tokio::test]
async fn an_ip_that_spends_its_budget_at_the_oauth_endpoints_gets_429_and_others_do_not() {
    let app = TestApp::builder()
        .with_env("TRUST_PROXY_HEADERS", "true")
        .with_env("RATE_LIMIT_OAUTH_PER_IP", "3")
        .spawn()
        .await;
    // Whatever the answer (here: an unknown client), each request spends.
    for _ in 0..3 {
        let response = token_request(&app, "203.0.113.7", "nobody").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_rate_limited_oauth_answer(token_request(&app, "203.0.113.7", "nobody").await).await;
    // The three endpoints share the budget.
    let introspect = reqwest::Client::new()
        .post(app.url("/o/introspect/"))
        .header("x-forwarded-for", "203.0.113.7")
        .form(&[("token", "x"), ("client_id", "nobody")])
        .send()
        .await
        .expect("POST");
    assert_rate_limited_oauth_answer(introspect).await;

    let elsewhere = token_request(&app, "198.51.100.1", "nobody").await;
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED, "another IP");
}

#[tokio::test]
async fn a_client_whose_requests_exceed_its_budget_gets_429_from_every_address() {
    let app = TestApp::builder()
        .with_env("TRUST_PROXY_HEADERS", "true")
        .with_env("RATE_LIMIT_OAUTH_PER_CLIENT", "2")
        .spawn()
        .await;
    let owner = app.create_account("owner@acme.test", false).await;
    let (client, secret) = register(&app, &owner, backend_form()).await;
    let secret = secret.expect("a confidential client has a secret");
    let client_credentials = |ip: &'static str| {
        reqwest::Client::new()
            .post(app.url("/o/token/"))
            .header("x-forwarded-for", ip)
            .basic_auth(&client.client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    for ip in ["203.0.113.1", "203.0.113.2"] {
        let response = client_credentials(ip).await.expect("POST");
        assert_eq!(response.status(), StatusCode::OK, "{ip}");
    }
    assert_rate_limited_oauth_answer(client_credentials("203.0.113.3").await.expect("POST")).await;
    let other = token_request(&app, "203.0.113.3", "another-client").await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED, "another client");
}

/// A login or sign-up form submitted from `ip` in a browser session of its own.
async fn submit(app: &TestApp, path: &str, ip: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let browser = app.new_client();
    let page = browser
        .get(app.url(path))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    let token = csrf_token_in(&page);
    let mut form = fields.to_vec();
    form.push(("csrf_token", &token));
    browser
        .post(app.url(path))
        .header("x-forwarded-for", ip)
        .form(&form)
        .send()
        .await
        .expect("POST")
}

#[tokio::test]
async fn login_forms_beyond_an_ips_budget_get_the_too_many_attempts_page() {
    let app = TestApp::builder()
        .with_env("TRUST_PROXY_HEADERS", "true")
        .with_env("RATE_LIMIT_LOGIN_PER_IP", "2")
        .spawn()
        .await;
    app.create_account("owner@acme.test", false).await;
    let login = [("email", "owner@acme.test"), ("password", PASSWORD)];
    for _ in 0..2 {
        let response = submit(&app, "/login", "203.0.113.7", &login).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let refused = submit(&app, "/login", "203.0.113.7", &login).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused
        .text()
        .await
        .expect("body")
        .contains("Too many attempts"));
    let elsewhere = submit(&app, "/login", "198.51.100.1", &login).await;
    assert_eq!(elsewhere.status(), StatusCode::SEE_OTHER, "another IP");
}

#[tokio::test]
async fn sign_ups_beyond_an_ips_hourly_budget_are_refused_and_create_nothing() {
    let app = TestApp::builder()
        .with_env("TRUST_PROXY_HEADERS", "true")
        .with_env("RATE_LIMIT_SIGNUP_PER_IP", "1")
        .spawn()
        .await;
    let sign_up = |email: &'static str| {
        [
            ("business_name", "Acme"),
            ("email", email),
            ("password", PASSWORD),
        ]
    };
    let first = submit(&app, "/signup", "203.0.113.7", &sign_up("a@acme.test")).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = submit(&app, "/signup", "203.0.113.7", &sign_up("b@acme.test")).await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    let users = bridgekeeper::accounts::list_users(&app.state.db, 10)
        .await
        .expect("users");
    assert_eq!(users.len(), 1, "the refused sign-up created no account");
}
