//! R1–R12: redirects and the authorization endpoint.

use reqwest::StatusCode;

use super::*;
use crate::support::{location, PASSWORD};

fn assert_error_page(response: &reqwest::Response, why: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
    assert!(
        response.headers().get(reqwest::header::LOCATION).is_none(),
        "{why}: an error page never redirects"
    );
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .expect("ascii");
    assert!(content_type.starts_with("text/html"), "{why}");
}

/// The login page, sent back to `path` afterwards.
fn assert_login_required(response: &reqwest::Response, path: &str) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(response);
    assert!(to.starts_with("/login?next="), "lands on login: {to}");
    assert!(to.contains(&enc(path)), "comes back to the request: {to}");
}

#[tokio::test]
async fn r01_redirect_uri_must_match_exactly() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let pkce = Pkce::new();
    for near in [
        "https://app.test/cb/",
        "https://app.test/cb?x=1",
        "https://app.test/cb/../cb",
        "https://APP.test/cb",
        "https://app.test:443/cb",
        "https://app.test/cb#f",
        "https://app.test/cb.evil",
    ] {
        let params = authorize_query(&client.client_id, &pkce, &[("redirect_uri", near)]);
        let response = authorize(&app, &params).await;
        assert_error_page(&response, near);
    }
    let exact = authorize(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    assert_eq!(
        exact.status(),
        StatusCode::OK,
        "the exact URI gets the consent page"
    );

    // Native apps: any port on the loopback IP, only when registered without one.
    let mut native = spa_form();
    native.name = "Desktop app".into();
    native.redirect_uris = vec!["http://127.0.0.1/cb".into()];
    let (native, _) = register(&app, &user, native).await;
    for (uri, ok) in [
        ("http://127.0.0.1:51234/cb", true),
        ("http://127.0.0.1/cb", true),
        ("http://127.0.0.1:51234/other", false),
        ("http://localhost:51234/cb", false),
        ("http://127.0.0.1:0/cb", false),
        ("http://127.0.0.1:65536/cb", false),
        ("http://127.0.0.1:99999/cb", false),
    ] {
        let params = authorize_query(&native.client_id, &pkce, &[("redirect_uri", uri)]);
        let response = authorize(&app, &params).await;
        if ok {
            assert_eq!(response.status(), StatusCode::OK, "{uri}");
        } else {
            assert_error_page(&response, uri);
        }
    }
    let port_on_https = authorize(
        &app,
        &authorize_query(
            &client.client_id,
            &pkce,
            &[("redirect_uri", "https://app.test:8443/cb")],
        ),
    )
    .await;
    assert_error_page(&port_on_https, "no port freedom for non-loopback URIs");
}

async fn register_via_tab(
    app: &TestApp,
    redirect_uris: &str,
    client_type: &str,
) -> reqwest::Response {
    app.post_form(
        "/dashboard/oauth/clients/",
        &[
            ("name", "Shop"),
            ("client_type", client_type),
            ("redirect_uris", redirect_uris),
            ("grant_types", "authorization_code"),
            ("scopes", "customers:read"),
        ],
    )
    .await
}

async fn client_count(app: &TestApp) -> usize {
    clients::list(&app.state.db, None)
        .await
        .expect("list")
        .len()
}

#[tokio::test]
async fn r02_full_redirect_uri_registered_without_wildcards_or_fragments() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    for bad in [
        "https://*.app.test/cb",
        "https://app.test/*",
        "https://app.test/cb#fragment",
        "https://app.test",
    ] {
        let response = register_via_tab(&app, bad, "public").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let page = response.text().await.expect("body");
        assert!(page.contains("redirect URI"), "{bad}: the page says why");
    }
    assert_eq!(client_count(&app).await, 0, "nothing was stored");
    let ok = register_via_tab(&app, "https://app.test/cb", "public").await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(client_count(&app).await, 1);
}

#[tokio::test]
async fn r03_no_plain_http_redirect_uris_except_native_loopback() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let response = register_via_tab(&app, "http://example.com/cb", "public").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.expect("body").contains("use https"));
    let response = register_via_tab(&app, "http://127.0.0.1/cb", "confidential").await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "loopback http is for native (public) apps only"
    );
    assert_eq!(client_count(&app).await, 0);
    let native = register_via_tab(&app, "http://127.0.0.1/cb", "public").await;
    assert_eq!(native.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_redirect_uri_that_carries_a_response_parameter_or_port_0_is_not_registered() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    for (uri, kind) in [
        ("https://app.test/cb?code=x", "public"),
        ("https://app.test/cb?state=x", "confidential"),
        ("https://app.test/cb?iss=https%3A%2F%2Fevil.test", "public"),
        ("https://app.test/cb?error=x", "public"),
        ("http://127.0.0.1:0/cb", "public"),
    ] {
        let response = register_via_tab(&app, uri, kind).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
    }
    assert_eq!(client_count(&app).await, 0);
}

#[tokio::test]
async fn r04_bad_client_id_or_redirect_uri_gets_an_error_page_never_a_redirect() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let pkce = Pkce::new();
    let unknown = authorize(&app, &authorize_query("no-such-client", &pkce, &[])).await;
    assert_error_page(&unknown, "unknown client");
    assert!(unknown
        .text()
        .await
        .expect("body")
        .contains("not registered"));
    let missing = authorize(&app, &authorize_query("", &pkce, &[])).await;
    assert_error_page(&missing, "missing client_id");
    let mismatched = authorize(
        &app,
        &authorize_query(
            &client.client_id,
            &pkce,
            &[("redirect_uri", "https://evil.test/cb")],
        ),
    )
    .await;
    assert_error_page(&mismatched, "unregistered redirect URI");
    // Also before login: a stranger gets the error page, not the login page.
    let stranger = app.new_client();
    let response = stranger
        .get(app.url(&authorize_path(&authorize_query(
            &client.client_id,
            &pkce,
            &[("redirect_uri", "https://evil.test/cb")],
        ))))
        .send()
        .await
        .expect("GET");
    assert_error_page(&response, "unauthenticated, bad redirect URI");
}

#[tokio::test]
async fn r05_users_log_in_before_any_redirect_to_the_client() {
    let app = TestApp::spawn().await;
    let owner = app.create_account("owner@acme.test", false).await;
    let (client, _) = register(&app, &owner, spa_form()).await;
    let params = authorize_query(&client.client_id, &Pkce::new(), &[("scope", "admin")]);
    let path = authorize_path(&params);
    let response = app.get(&path).await;
    assert_login_required(&response, &path);
    assert!(!location(&response).starts_with(SPA_REDIRECT));

    // After logging in, the browser returns to the request, which is now answered
    // (with invalid_scope) at the trusted, registered URI.
    let login = app
        .post_form(
            "/login",
            &[
                ("email", "owner@acme.test"),
                ("password", PASSWORD),
                ("next", &path),
            ],
        )
        .await;
    assert_eq!(location(&login), path);
    let response = app.get(&path).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let to = location(&response);
    assert!(to.starts_with(SPA_REDIRECT), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_scope"));
}

#[tokio::test]
async fn r06_credential_and_consent_posts_answer_303_never_307() {
    let app = TestApp::spawn().await;
    let user = app.create_account("owner@acme.test", false).await;
    let login = app.log_in("owner@acme.test", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let (client, _) = register(&app, &user, spa_form()).await;
    let params = authorize_query(&client.client_id, &Pkce::new(), &[]);
    let deny = decide(&app, &params, "deny").await;
    assert_eq!(deny.status(), StatusCode::SEE_OTHER);
    let approve = decide(&app, &params, "approve").await;
    assert_eq!(approve.status(), StatusCode::SEE_OTHER);
    assert_ne!(approve.status(), StatusCode::TEMPORARY_REDIRECT);
}

fn assert_not_frameable(response: &reqwest::Response, what: &str) {
    let headers = response.headers();
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
}

#[tokio::test]
async fn r07_flow_pages_cannot_be_framed() {
    let app = TestApp::spawn().await;
    let stranger = app.new_client();
    let login = stranger.get(app.url("/login")).send().await.expect("GET");
    assert_not_frameable(&login, "login page");
    let (_, client) = business_with_spa(&app).await;
    let params = authorize_query(&client.client_id, &Pkce::new(), &[]);
    let consent = authorize(&app, &params).await;
    assert_eq!(consent.status(), StatusCode::OK);
    assert_not_frameable(&consent, "consent page");
    let error = authorize(&app, &authorize_query("nope", &Pkce::new(), &[])).await;
    assert_not_frameable(&error, "error page");
    let redirect = decide(&app, &params, "approve").await;
    assert_not_frameable(&redirect, "consent answer");
}

#[tokio::test]
async fn r08_no_cors_on_the_authorization_endpoint() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, app.url("/o/authorize/"))
        .header("Origin", SPA_ORIGIN)
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .expect("OPTIONS");
    assert!(preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let path = authorize_path(&authorize_query(&client.client_id, &Pkce::new(), &[]));
    let get = app
        .client
        .get(app.url(&path))
        .header("Origin", SPA_ORIGIN)
        .send()
        .await
        .expect("GET");
    assert_eq!(get.status(), StatusCode::OK);
    assert!(get.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn r09_flow_pages_send_no_referrer() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let params = authorize_query(&client.client_id, &Pkce::new(), &[]);
    let consent = authorize(&app, &params).await;
    assert_eq!(consent.headers()["referrer-policy"], "no-referrer");
    let body = consent.text().await.expect("body");
    assert!(!body.contains("<script"), "no scripts on the consent page");
    assert!(
        !body.contains("src=\"http") && !body.contains("href=\"http"),
        "no third-party content"
    );
    let callback = decide(&app, &params, "approve").await;
    assert_eq!(callback.headers()["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn r10_authorize_is_a_get_and_ignores_unknown_parameters() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let pkce = Pkce::new();
    let params = authorize_query(&client.client_id, &pkce, &[("foo", "bar"), ("prompt", "x")]);
    let response = authorize(&app, &params).await;
    assert_eq!(response.status(), StatusCode::OK);
    let code = code_for(&app, &params).await;
    let answer = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(answer.status, StatusCode::OK);
    // Without the trailing slash too.
    let path = authorize_path(&params).replacen("/o/authorize/", "/o/authorize", 1);
    assert_eq!(
        app.get(&path).await.status(),
        StatusCode::FOUND,
        "consent remembered"
    );
}

#[tokio::test]
async fn r11_state_is_echoed_exactly() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let hostile = format!(
        "{}&x=1 %25 +plus/slash?q#frag \"quoted\" <tag> é ünïcode",
        "long-".repeat(100)
    );
    let params = authorize_query(&client.client_id, &Pkce::new(), &[("state", &hostile)]);
    let consent = authorize(&app, &params).await;
    assert_eq!(consent.status(), StatusCode::OK);
    let approved = decide(&app, &params, "approve").await;
    assert_eq!(
        query_param(&location(&approved), "state").as_deref(),
        Some(hostile.as_str())
    );
    let denied = decide(&app, &params, "deny").await;
    assert_eq!(
        query_param(&location(&denied), "state").as_deref(),
        Some(hostile.as_str())
    );
    let remembered = authorize(&app, &params).await;
    assert_eq!(
        query_param(&location(&remembered), "state").as_deref(),
        Some(hostile.as_str())
    );
}

#[tokio::test]
async fn r12_iss_is_in_every_authorization_response() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let issuer = app.state.oauth.issuer.clone();
    let params = authorize_query(&client.client_id, &Pkce::new(), &[]);
    let approved = decide(&app, &params, "approve").await;
    assert_eq!(
        query_param(&location(&approved), "iss"),
        Some(issuer.clone())
    );
    let denied = decide(&app, &params, "deny").await;
    let to = location(&denied);
    assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&to, "iss"), Some(issuer.clone()));
    let bad_scope = authorize(
        &app,
        &authorize_query(&client.client_id, &Pkce::new(), &[("scope", "nope")]),
    )
    .await;
    assert_eq!(
        query_param(&location(&bad_scope), "iss"),
        Some(issuer.clone())
    );
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(metadata["issuer"], issuer);
}

#[tokio::test]
async fn an_authorization_request_from_an_expired_login_asks_for_login_again() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let path = authorize_path(&authorize_query(&client.client_id, &Pkce::new(), &[]));
    app.clock
        .advance(app.state.settings.sessions.lifetime_seconds + 1);
    assert_login_required(&app.get(&path).await, &path);
}

#[tokio::test]
async fn an_authorization_request_from_the_session_of_a_deleted_user_asks_for_login() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    // Someone else, logged in on the app's browser, whose account then disappears.
    let visitor = app.create_account("visitor@elsewhere.test", false).await;
    app.log_in("visitor@elsewhere.test", PASSWORD).await;
    let visitor_id = visitor.id;
    app.raw_database(move |conn| {
        diesel::connection::SimpleConnection::batch_execute(
            conn,
            &format!("DELETE FROM users WHERE id = {visitor_id}"),
        )
        .expect("delete the user")
    })
    .await;
    let path = authorize_path(&authorize_query(&client.client_id, &Pkce::new(), &[]));
    let response = app.get(&path).await;
    let ended: Vec<&str> = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with("bk_session=") && v.contains("Max-Age=0"))
        .collect();
    assert_eq!(ended.len(), 1, "the session is ended");
    assert_login_required(&response, &path);
}
