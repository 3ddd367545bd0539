//! Throttles that hold: concurrent guesses at a password or a client secret are checked
//! at most the limit's number of times; a stranger's guesses cannot lock a client out
//! of its own address; the client IP behind proxies is the hop our proxy appended.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::oauth::{backend_form, enc, register, TokenAnswer};
use crate::support::{TestApp, PASSWORD};

/// How many times the audit log records `action` (a repeated failure is one line
/// with a count).
async fn audited(app: &TestApp, action: &str) -> usize {
    bridgekeeper::audit::recent(&app.state.db, None, 10_000)
        .await
        .expect("audit log")
        .iter()
        .filter(|event| event.action == action)
        .map(|event| usize::try_from(event.repeats).expect("a count"))
        .sum()
}

/// The statuses of `answers`, counted: (401s, 429s, anything else).
fn tally(statuses: &[StatusCode]) -> (usize, usize, Vec<StatusCode>) {
    let unauthorized = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let other = statuses
        .iter()
        .filter(|s| **s != StatusCode::UNAUTHORIZED && **s != StatusCode::TOO_MANY_REQUESTS)
        .copied()
        .collect();
    (unauthorized, throttled, other)
}

/// `n` browsers, each with its own session and CSRF token, ready to post the login form.
async fn login_browsers(app: &TestApp, n: usize) -> Vec<(reqwest::Client, String)> {
    let mut browsers = Vec::with_capacity(n);
    for _ in 0..n {
        let browser = app.new_client();
        let token = app.csrf_token_of(&browser).await;
        browsers.push((browser, token));
    }
    browsers
}

/// Posts every login at once (`email_of(i)` for the i-th browser) and returns the statuses.
async fn concurrent_logins(
    app: &TestApp,
    browsers: &[(reqwest::Client, String)],
    email_of: impl Fn(usize) -> String,
    password: &str,
) -> Vec<StatusCode> {
    let attempts = browsers.iter().enumerate().map(|(i, (browser, token))| {
        let email = email_of(i);
        async move {
            browser
                .post(app.url("/login"))
                .form(&[
                    ("email", email.as_str()),
                    ("password", password),
                    ("csrf_token", token.as_str()),
                ])
                .send()
                .await
                .expect("login")
                .status()
        }
    });
    join_all(attempts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_for_one_account_reach_the_password_check_at_most_the_limit() {
    let app = TestApp::spawn().await;
    let limit = app.state.settings.login_throttle.max_failures_per_account;
    assert_eq!(limit, 5, "the default");
    app.create_account("owner@acme.test", false).await;
    let browsers = login_browsers(&app, 30).await;

    let statuses = concurrent_logins(
        &app,
        &browsers,
        |_| "owner@acme.test".into(),
        "wrong password!",
    )
    .await;

    let (unauthorized, throttled, other) = tally(&statuses);
    assert!(other.is_empty(), "{other:?}");
    // Each attempt that got past the throttle checked the password and failed; the
    // rest were refused before the hash.
    assert_eq!(audited(&app, "session.login_failed").await, 5);
    assert_eq!(audited(&app, "session.login_throttled").await, 25);
    assert_eq!((unauthorized, throttled), (5, 25));
    // The right password is refused too while the window holds.
    let browsers = login_browsers(&app, 1).await;
    let statuses = concurrent_logins(&app, &browsers, |_| "owner@acme.test".into(), PASSWORD).await;
    assert_eq!(statuses, [StatusCode::TOO_MANY_REQUESTS]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_from_one_ip_reach_the_password_check_at_most_the_ip_limit() {
    let app = TestApp::builder()
        .with_env("LOGIN_MAX_FAILURES_PER_IP", "8")
        .spawn()
        .await;
    app.create_account("owner@acme.test", false).await;
    let browsers = login_browsers(&app, 30).await;

    // Thirty accounts (most unknown, which cost a hash all the same), one address.
    let statuses = concurrent_logins(
        &app,
        &browsers,
        |i| format!("guess{i}@acme.test"),
        "wrong password!",
    )
    .await;

    let (unauthorized, throttled, other) = tally(&statuses);
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(audited(&app, "session.login_failed").await, 8);
    assert_eq!(audited(&app, "session.login_throttled").await, 22);
    assert_eq!((unauthorized, throttled), (8, 22));
}

#[tokio::test]
async fn a_successful_login_releases_its_reservation_and_clears_the_accounts_failures() {
    let app = TestApp::builder()
        .with_env("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")
        .with_env("LOGIN_MAX_FAILURES_PER_IP", "4")
        .spawn()
        .await;
    app.create_account("owner@acme.test", false).await;
    for _ in 0..2 {
        let response = app.log_in("owner@acme.test", "wrong password!").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Two failures, then a success: the account starts over, and the success did not
    // count against the IP (two failures there so far).
    assert_eq!(
        app.log_in("owner@acme.test", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    for _ in 0..2 {
        let response = app.log_in("other@acme.test", "wrong password!").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.log_in("owner@acme.test", "wrong password!")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the IP's fifth failure would pass its limit of four"
    );
}

/// POST to an `/o/` form endpoint with Basic credentials, as if from `forwarded_for`
/// (the app must trust proxy headers for that to matter).
async fn client_post(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: (&str, &str),
    forwarded_for: Option<&str>,
) -> TokenAnswer {
    let credentials = STANDARD.encode(format!("{}:{}", enc(basic.0), enc(basic.1)));
    let mut request = reqwest::Client::new()
        .post(app.url(path))
        .form(form)
        .header(
            reqwest::header::AUTHORIZATION,
            format!("Basic {credentials}"),
        );
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    let response = request.send().await.expect("POST");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    // A revocation's success has an empty body.
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    TokenAnswer {
        status,
        headers,
        body,
    }
}

const CLIENT_CREDENTIALS: [(&str, &str); 1] = [("grant_type", "client_credentials")];

/// The form each client-authenticating endpoint takes.
fn endpoint_form(path: &str) -> Vec<(&'static str, &'static str)> {
    match path {
        "/o/token/" => CLIENT_CREDENTIALS.to_vec(),
        _ => vec![("token", "not-a-token")],
    }
}

const ENDPOINTS: [&str; 3] = ["/o/token/", "/o/introspect/", "/o/revoke_token/"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_client_secrets_are_told_wrong_at_most_the_limit_at_every_endpoint() {
    let app = TestApp::builder()
        .with_env("OAUTH_MAX_CLIENT_AUTH_FAILURES_PER_IP", "1000")
        .spawn()
        .await;
    let limit = app.state.settings.oauth.max_client_auth_failures;
    assert_eq!(limit, 10, "the default");
    let owner = app.create_account("owner@acme.test", false).await;

    for (n, path) in ENDPOINTS.iter().enumerate() {
        let (client, secret) = register(&app, &owner, backend_form()).await;
        let secret = secret.expect("secret");
        let form = endpoint_form(path);
        let attempts =
            (0..30).map(|_| client_post(&app, path, &form, (&client.client_id, "wrong"), None));
        let answers = join_all(attempts).await;
        let statuses: Vec<StatusCode> = answers.iter().map(|a| a.status).collect();
        let (unauthorized, throttled, other) = tally(&statuses);
        assert!(other.is_empty(), "{path}: {other:?}");
        assert_eq!((unauthorized, throttled), (10, 20), "{path}");
        for answer in &answers {
            assert_eq!(answer.error(), "invalid_client", "{path}: {}", answer.body);
        }
        assert_eq!(
            audited(&app, "oauth.client_auth_failed").await,
            10 * (n + 1),
            "{path}: one audit line per failure told"
        );
        // The right secret from that address waits for the window too.
        let right = client_post(&app, path, &form, (&client.client_id, &secret), None).await;
        assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert!(right.headers.contains_key("retry-after"), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_client_secrets_from_one_ip_are_told_wrong_at_most_the_ip_limit() {
    let app = TestApp::builder()
        .with_env("OAUTH_MAX_CLIENT_AUTH_FAILURES_PER_IP", "12")
        .spawn()
        .await;
    let owner = app.create_account("owner@acme.test", false).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(register(&app, &owner, backend_form()).await);
    }
    // Thirty guesses spread over three real clients and unknown client ids.
    let ids: Vec<String> = (0..30)
        .map(|i| match i % 4 {
            3 => format!("unknown-client-{i}"),
            k => clients[k].0.client_id.clone(),
        })
        .collect();
    let attempts = ids.iter().enumerate().map(|(i, id)| {
        let path = ENDPOINTS[i % 3];
        let form = endpoint_form(path);
        let app = &app;
        async move {
            client_post(app, path, &form, (id, "wrong"), None)
                .await
                .status
        }
    });
    let statuses = join_all(attempts).await;
    let (unauthorized, throttled, other) = tally(&statuses);
    assert!(other.is_empty(), "{other:?}");
    assert_eq!((unauthorized, throttled), (12, 18));
    assert_eq!(audited(&app, "oauth.client_auth_failed").await, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stranger_guessing_a_clients_secret_does_not_lock_the_real_client_out() {
    let app = TestApp::builder()
        .with_env("TRUST_PROXY_HEADERS", "true")
        .with_env("OAUTH_MAX_CLIENT_AUTH_FAILURES", "3")
        .with_env("OAUTH_MAX_CLIENT_AUTH_FAILURES_PER_IP", "5")
        .spawn()
        .await;
    let owner = app.create_account("owner@acme.test", false).await;
    let (client, secret) = register(&app, &owner, backend_form()).await;
    let secret = secret.expect("secret");
    let id = client.client_id.as_str();

    // An attack from ten addresses, each well past both its limits, at all three
    // endpoints, while the real client keeps calling from its own address.
    let attack = (0..10).flat_map(|n| {
        let app = &app;
        ENDPOINTS.iter().flat_map(move |path| {
            (0..3).map(move |_| async move {
                let ip = format!("203.0.113.{n}");
                client_post(app, path, &endpoint_form(path), (id, "wrong"), Some(&ip))
                    .await
                    .status
            })
        })
    });
    let statuses = join_all(attack).await;
    let (unauthorized, throttled, other) = tally(&statuses);
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(unauthorized, 30, "three per (client, address)");
    assert_eq!(throttled, 60);

    // Every attacking address is throttled, whichever secret it sends …
    let from_attacker = client_post(
        &app,
        "/o/token/",
        &CLIENT_CREDENTIALS,
        (id, &secret),
        Some("203.0.113.4"),
    )
    .await;
    assert_eq!(from_attacker.status, StatusCode::TOO_MANY_REQUESTS);
    // … and the real client, from an address with no failures, is not.
    let real = "198.51.100.20";
    for path in ENDPOINTS {
        let answer = client_post(&app, path, &endpoint_form(path), (id, &secret), Some(real)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    }
    // A client's own mistakes from its address count there, but not per client alone:
    // a wrong secret from the real address leaves the other clients of that address
    // free, and the limit of three per (client, address) applies there as anywhere.
    for _ in 0..3 {
        let wrong = client_post(
            &app,
            "/o/token/",
            &CLIENT_CREDENTIALS,
            (id, "wrong"),
            Some(real),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    let locked = client_post(
        &app,
        "/o/token/",
        &CLIENT_CREDENTIALS,
        (id, &secret),
        Some(real),
    )
    .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let elsewhere = client_post(
        &app,
        "/o/token/",
        &CLIENT_CREDENTIALS,
        (id, &secret),
        Some("198.51.100.21"),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.body);
}

#[tokio::test]
async fn the_clients_page_tells_its_owner_of_failed_authentications() {
    let app = TestApp::builder()
        .with_env("TRUST_PROXY_HEADERS", "true")
        .spawn()
        .await;
    let owner = app.logged_in_business("owner@acme.test").await;
    let (client, _) = register(&app, &owner, backend_form()).await;
    let (other, _) = register(&app, &owner, backend_form()).await;
    let page_of = |client_id: &str| format!("/dashboard/oauth/clients/{client_id}/");

    let quiet = app
        .get(&page_of(&client.client_id))
        .await
        .text()
        .await
        .expect("page");
    assert!(!quiet.contains("failed-authentications"), "nothing to tell");

    for (ip, times) in [("203.0.113.1", 3), ("203.0.113.2", 2), ("2001:db8::7", 1)] {
        for _ in 0..times {
            let answer = client_post(
                &app,
                "/o/token/",
                &CLIENT_CREDENTIALS,
                (&client.client_id, "wrong"),
                Some(ip),
            )
            .await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        }
    }
    // Another client's failure is that client's.
    client_post(
        &app,
        "/o/token/",
        &CLIENT_CREDENTIALS,
        (&other.client_id, "wrong"),
        Some("203.0.113.1"),
    )
    .await;

    let page = app
        .get(&page_of(&client.client_id))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("6 failed authentications in the last 15 minutes, from 3 addresses."),
        "{page}"
    );
    let other_page = app
        .get(&page_of(&other.client_id))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        other_page.contains("1 failed authentication in the last 15 minutes, from 1 address."),
        "{other_page}"
    );

    // Once the window has passed, there is nothing to tell.
    app.clock
        .advance(app.state.settings.login_throttle.window_seconds + 1);
    let later = app
        .get(&page_of(&client.client_id))
        .await
        .text()
        .await
        .expect("page");
    assert!(!later.contains("failed-authentications"));
}

/// The address the audit log recorded for the latest failed login.
async fn last_failed_login_ip(app: &TestApp) -> Option<String> {
    bridgekeeper::audit::recent(&app.state.db, None, 1)
        .await
        .expect("audit log")
        .into_iter()
        .find(|event| event.action == "session.login_failed")
        .and_then(|event| event.ip)
}

async fn failed_login_via(app: &TestApp, forwarded_for: &[&str]) -> Option<String> {
    let browser = app.new_client();
    let token = app.csrf_token_of(&browser).await;
    let mut request = browser.post(app.url("/login")).form(&[
        ("email", "nobody@acme.test"),
        ("password", "wrong password!"),
        ("csrf_token", token.as_str()),
    ]);
    for value in forwarded_for {
        request = request.header("X-Forwarded-For", *value);
    }
    let response = request.send().await.expect("login");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    last_failed_login_ip(app).await
}

#[tokio::test]
async fn behind_one_proxy_the_client_ip_is_the_hop_it_appended_and_garbage_is_ignored() {
    let app = TestApp::builder()
        .with_env("TRUST_PROXY_HEADERS", "true")
        .spawn()
        .await;
    assert_eq!(app.state.settings.trusted_proxy_hops, 1, "the default");
    // The client wrote the first hop; our proxy appended the second.
    assert_eq!(
        failed_login_via(&app, &["198.51.100.1, 203.0.113.5"])
            .await
            .as_deref(),
        Some("203.0.113.5")
    );
    assert_eq!(
        failed_login_via(&app, &["[2001:DB8::5]:4711"])
            .await
            .as_deref(),
        Some("2001:db8::5")
    );
    // Not an address, or no header: the socket peer.
    assert_eq!(
        failed_login_via(&app, &["203.0.113.5, not-an-ip"])
            .await
            .as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        failed_login_via(&app, &[]).await.as_deref(),
        Some("127.0.0.1")
    );
}

#[tokio::test]
async fn behind_two_proxies_the_client_ip_is_the_hop_the_outer_one_appended() {
    let app = TestApp::builder()
        .with_env("TRUST_PROXY_HEADERS", "true")
        .with_env("TRUSTED_PROXY_HOPS", "2")
        .spawn()
        .await;
    assert_eq!(
        failed_login_via(&app, &["1.1.1.1, 203.0.113.5", "10.0.0.2"])
            .await
            .as_deref(),
        Some("203.0.113.5")
    );
    // Fewer hops than proxies: the request did not come through both; the peer.
    assert_eq!(
        failed_login_via(&app, &["203.0.113.5"]).await.as_deref(),
        Some("127.0.0.1")
    );
}

#[tokio::test]
async fn without_trusted_proxy_headers_a_forwarded_for_header_is_ignored() {
    let app = TestApp::spawn().await;
    assert_eq!(
        failed_login_via(&app, &["203.0.113.5"]).await.as_deref(),
        Some("127.0.0.1")
    );
}
