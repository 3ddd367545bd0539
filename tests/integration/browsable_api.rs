//! The browsable API: `/api/` as pages for a logged-in person, from the same handlers
//! programs call with a token. A session only ever authorizes a browser's page request.

use bridgekeeper::web::middleware::CONTENT_SECURITY_POLICY;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::customers::customer_named;
use crate::support::{csrf_token_in, location, TestApp};

/// What a browser sends when it navigates to a page.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A logged-in business (on `app.client`) with a connected sandbox Stripe account.
async fn connected_business(app: &TestApp) -> String {
    app.logged_in_business("owner@acme.test").await;
    app.connect_stripe(None).await
}

async fn page(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .expect("GET page")
}

/// The CSRF token the browsable pages' forms carry.
async fn page_csrf_token(app: &TestApp) -> String {
    let html = page(app, "/api/customers/")
        .await
        .text()
        .await
        .expect("body");
    csrf_token_in(&html)
}

/// Submits a browsable page's form as the browser would.
async fn submit(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header(ACCEPT, BROWSER_ACCEPT)
        .form(fields)
        .send()
        .await
        .expect("POST form")
}

#[tokio::test]
async fn a_session_never_authorizes_a_json_request() {
    let app = TestApp::spawn().await;
    connected_business(&app).await;

    for accept in [None, Some("application/json"), Some("*/*")] {
        let mut request = app.client.get(app.url("/api/customers/"));
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        let response = request.send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{accept:?}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"], "unauthorized");
    }
    let response = app
        .client
        .post(app.url("/api/customers/"))
        .json(&json!({"customer_id": "cus_abc123"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_logged_in_browser_sees_the_endpoint_as_a_page_with_the_apps_security_headers() {
    let app = TestApp::spawn().await;
    connected_business(&app).await;

    let response = page(&app, "/api/customers/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(headers[CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = response.text().await.expect("body");

    assert!(html.contains("<h1>List recorded customers</h1>"), "{html}");
    assert!(html
        .contains("allows <span class=\"method\">GET</span>, <span class=\"method\">POST</span>"));
    assert!(
        html.contains("<strong>GET /api/customers/</strong>"),
        "the request as sent"
    );
    assert!(html.contains("HTTP 200 OK"), "the status");
    assert!(
        html.contains("content-type: application/json"),
        "the headers"
    );
    assert!(
        html.contains("<span class=\"json-key\">&#34;has_more&#34;</span>"),
        "the JSON"
    );
    assert!(
        html.contains("name=\"customer_id\""),
        "a form with the request's fields"
    );
    assert!(html.contains("name=\"csrf_token\""));
    assert!(html.contains("href=\"/api/customers/?format=json\""));
}

#[tokio::test]
async fn format_json_shows_the_session_the_raw_json() {
    let app = TestApp::spawn().await;
    connected_business(&app).await;

    let response = page(&app, "/api/customers/?format=json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .starts_with("application/json"));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body, json!({"data": [], "has_more": false}));
}

#[tokio::test]
async fn a_form_without_the_csrf_token_is_refused_with_403_and_records_nothing() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    let alice = customer_named(&app, &account, "Alice Active");

    let response = submit(&app, "/api/customers/", &[("customer_id", &alice)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = submit(
        &app,
        "/api/customers/",
        &[("customer_id", &alice), ("csrf_token", "forged")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let list: Value = page(&app, "/api/customers/?format=json")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn the_forms_record_and_forget_a_customer_through_the_api_handlers() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    let alice = customer_named(&app, &account, "Alice Active");
    let token = page_csrf_token(&app).await;

    let response = submit(
        &app,
        "/api/customers/",
        &[
            ("customer_id", &alice),
            ("return_url", ""),
            ("csrf_token", &token),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let html = response.text().await.expect("body");
    assert!(html.contains("HTTP 201 Created"), "{html}");
    assert!(
        html.contains(&format!("&#34;customer_id&#34;: &#34;{alice}&#34;"))
            || html.contains(&alice)
    );
    assert!(
        html.contains("<a href=\"http://127.0.0.1:"),
        "the portal URL is a link: {html}"
    );

    let path = format!("/api/customers/{alice}/");
    let response = submit(
        &app,
        &path,
        &[("_method", "DELETE"), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = page(&app, &format!("{path}?format=json")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "customer_not_recorded");
}

#[tokio::test]
async fn what_the_api_answers_is_escaped_on_the_page() {
    let app = TestApp::spawn().await;
    connected_business(&app).await;
    let token = page_csrf_token(&app).await;

    let response = submit(
        &app,
        "/api/customers/",
        &[
            ("customer_id", "cus_<script>alert(1)</script>"),
            ("csrf_token", &token),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.expect("body");
    assert!(html.contains("&#34;invalid_request&#34;"), "{html}");
    assert!(
        html.contains("cus_&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the request as sent, escaped: {html}"
    );
    assert!(!html.contains("<script>alert(1)"), "{html}");
}

#[tokio::test]
async fn a_browser_without_a_session_is_sent_to_log_in_and_back() {
    let app = TestApp::spawn().await;
    let response = page(&app, "/api/customers/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?next=%2Fapi%2Fcustomers%2F");
}

#[tokio::test]
async fn the_api_tab_lists_every_endpoint_with_links_to_the_reference_and_the_schema() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let html = app.get("/dashboard/api/").await.text().await.expect("body");
    assert!(html.contains("<a href=\"/api/customers/\"><code>/api/customers/</code></a>"));
    assert!(html.contains("<a href=\"/api/me/\"><code>/api/me/</code></a>"));
    assert!(html.contains("<code>/api/customers/{customer_id}/portal_sessions/</code>"));
    assert!(html.contains("href=\"/api/docs/\""));
    assert!(html.contains("href=\"/api/schema/\""));
}

mod browser {
    use fantoccini::Locator;

    use super::connected_business;
    use crate::customers::customer_named;
    use crate::support::browser::Browser;
    use crate::support::TestApp;

    #[tokio::test]
    async fn a_person_browses_from_the_api_tab_and_records_a_customer_with_the_form() {
        let app = TestApp::spawn().await;
        let account = connected_business(&app).await;
        let alice = customer_named(&app, &account, "Alice Active");

        let browser = Browser::start().await;
        let c = &browser.client;
        browser
            .log_in(&app.url("/login?next=/dashboard/api/"), "owner@acme.test")
            .await;
        browser
            .click("ul.endpoints a[href='/api/customers/']")
            .await;
        let heading = c
            .wait()
            .for_element(Locator::Css("section.api-endpoint h1"))
            .await
            .expect("the endpoint's page");
        assert_eq!(
            heading.text().await.expect("text"),
            "List recorded customers"
        );

        browser
            .fill("form[data-method=POST] input[name=customer_id]", &alice)
            .await;
        browser.click("form[data-method=POST] button").await;
        c.wait()
            .for_element(Locator::XPath(
                "//strong[@class='api-status' and text()='HTTP 201 Created']",
            ))
            .await
            .expect("the answer: the customer was recorded");
        let response = c
            .find(Locator::Css("pre.api-response"))
            .await
            .expect("the response")
            .text()
            .await
            .expect("text");
        assert!(response.contains(&alice), "{response}");
        assert!(response.contains("\"status\": \"active\""), "{response}");
        let portal = c
            .find(Locator::Css("pre.api-response a.json-string[href^='http']"))
            .await
            .expect("the portal URL is a link");
        assert!(portal
            .attr("href")
            .await
            .expect("href")
            .is_some_and(|href| href.contains("/p/session/")));
        browser.close().await;
    }
}
