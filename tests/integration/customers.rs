//! The customers API end to end: a PKCE token from /o/token/, a business connected to
//! the sandbox emulator over loopback, and /api/customers/.

use reqwest::StatusCode;
use serde_json::{json, Value};
use stripe_emulator::{Fault, FaultAction};

use crate::oauth::{authorize_query, business_with_spa, code_for, exchange, spa_tokens, Pkce};
use crate::support::TestApp;

/// A business with a connected Stripe account and a token with both customer scopes.
struct Connected {
    account: String,
    token: String,
}

async fn connected_business(app: &TestApp) -> Connected {
    let (_, client) = business_with_spa(app).await;
    let account = app.connect_stripe(None).await;
    let token = spa_tokens(app, &client).await.access_token();
    Connected { account, token }
}

/// A connected business that has recorded its seeded customer "Alice Active".
async fn business_with_alice(app: &TestApp) -> (Connected, String) {
    let business = connected_business(app).await;
    let alice = customer_named(app, &business.account, "Alice Active");
    let (status, document) = record(app, &business.token, &alice).await;
    assert_eq!(status, StatusCode::CREATED, "{document}");
    (business, alice)
}

/// The emulator's customer id for a seeded customer's name.
pub fn customer_named(app: &TestApp, account: &str, name: &str) -> String {
    app.emulator().inspect(|model| {
        model.accounts[account]
            .customers
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id.clone())
            .unwrap_or_else(|| panic!("no seeded customer {name}"))
    })
}

/// The emulator's period end for the customer's (single) subscription.
fn period_end(app: &TestApp, account: &str, customer: &str) -> i64 {
    app.emulator().inspect(|model| {
        let sub = model.accounts[account]
            .subscriptions
            .iter()
            .find(|s| s.customer == customer)
            .expect("a subscription");
        sub.items[0].period_end
    })
}

fn rfc3339(t: i64) -> String {
    bridgekeeper::clock::rfc3339(t)
}

pub(crate) async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, json)
}

pub(crate) async fn record(app: &TestApp, token: &str, customer_id: &str) -> (StatusCode, Value) {
    let (status, _, body) = call(
        app,
        reqwest::Method::POST,
        "/api/customers/",
        token,
        Some(json!({"customer_id": customer_id, "return_url": "https://app.test/account"})),
    )
    .await;
    (status, body)
}

pub(crate) async fn get(
    app: &TestApp,
    token: &str,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    call(app, reqwest::Method::GET, path, token, None).await
}

#[tokio::test]
async fn recording_a_customer_answers_its_subscriptions_renewal_and_a_portal_url() {
    let app = TestApp::spawn().await;
    let business = connected_business(&app).await;
    let alice = customer_named(&app, &business.account, "Alice Active");

    let (status, document) = record(&app, &business.token, &alice).await;
    assert_eq!(status, StatusCode::CREATED, "{document}");
    assert_eq!(document["customer_id"], alice);
    assert_eq!(document["email"], "alice@example.com");
    assert_eq!(document["name"], "Alice Active");
    assert_eq!(document["livemode"], false);
    assert_eq!(document["stale"], false);
    assert!(document["portal_url"]
        .as_str()
        .expect("portal url")
        .starts_with("http"));
    let subscription = &document["subscriptions"][0];
    assert_eq!(subscription["status"], "active");
    let end = rfc3339(period_end(&app, &business.account, &alice));
    assert_eq!(subscription["current_period_end"], end);
    assert_eq!(subscription["renews_at"], end);
    let item = &subscription["items"][0];
    assert_eq!(item["unit_amount"], 2000);
    assert_eq!(item["currency"], "usd");
    assert_eq!(item["interval"], "month");
    assert_eq!(item["interval_count"], 1);
    assert_eq!(item["quantity"], 1);
    assert_eq!(item["nickname"], "Pro monthly");
    assert!(item["price_id"]
        .as_str()
        .expect("price")
        .starts_with("price_"));
    assert!(item["product"]
        .as_str()
        .expect("product")
        .starts_with("prod_"));

    // Recording again refreshes it and answers 200.
    let (status, again) = record(&app, &business.token, &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["customer_id"], alice);
}

#[tokio::test]
async fn renewal_dates_are_read_from_the_subscription_for_api_versions_before_basil() {
    let app = TestApp::builder()
        .with_env("STRIPE_API_VERSION", "2024-12-18.acacia")
        .spawn()
        .await;
    let business = connected_business(&app).await;
    let alice = customer_named(&app, &business.account, "Alice Active");
    let (status, document) = record(&app, &business.token, &alice).await;
    assert_eq!(status, StatusCode::CREATED, "{document}");
    let end = rfc3339(period_end(&app, &business.account, &alice));
    assert_eq!(document["subscriptions"][0]["current_period_end"], end);
    assert_eq!(document["subscriptions"][0]["renews_at"], end);
    let requests = app.emulator().requests();
    assert!(requests.iter().any(|r| r.path == "/v1/subscriptions"));
}

#[tokio::test]
async fn subscriptions_that_will_not_renew_have_no_renewal_date() {
    let app = TestApp::spawn().await;
    let business = connected_business(&app).await;
    for name in ["Erin Leaving", "Dave Canceled"] {
        let id = customer_named(&app, &business.account, name);
        let (status, document) = record(&app, &business.token, &id).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {document}");
        assert_eq!(
            document["subscriptions"][0]["renews_at"],
            Value::Null,
            "{name}"
        );
    }
    let bob = customer_named(&app, &business.account, "Bob Trial");
    let (_, document) = record(&app, &business.token, &bob).await;
    assert_eq!(document["subscriptions"][0]["status"], "trialing");
    assert_eq!(
        document["subscriptions"][0]["renews_at"],
        document["subscriptions"][0]["trial_end"]
    );
}

#[tokio::test]
async fn customers_are_listed_newest_first_with_cursor_pagination() {
    let app = TestApp::spawn().await;
    let business = connected_business(&app).await;
    let names = ["Alice Active", "Bob Trial", "Carol Late"];
    let mut ids = Vec::new();
    for name in names {
        let id = customer_named(&app, &business.account, name);
        assert_eq!(
            record(&app, &business.token, &id).await.0,
            StatusCode::CREATED
        );
        ids.push(id);
    }
    let (status, _, page) = get(&app, &business.token, "/api/customers/?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["has_more"], true);
    let listed: Vec<&str> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|c| c["customer_id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);

    let (_, _, rest) = get(
        &app,
        &business.token,
        &format!("/api/customers/?limit=2&starting_after={}", ids[1]),
    )
    .await;
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["data"][0]["customer_id"], ids[0]);

    let (status, _, error) = get(&app, &business.token, "/api/customers/?limit=1000").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"], "invalid_request");
    assert_eq!(error["field"], "limit");
}

#[tokio::test]
async fn one_customer_is_read_and_a_new_portal_session_created() {
    let app = TestApp::spawn().await;
    let (business, alice) = business_with_alice(&app).await;

    let (status, _, document) =
        get(&app, &business.token, &format!("/api/customers/{alice}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["customer_id"], alice);
    assert_eq!(
        document["portal_url"],
        Value::Null,
        "no portal session on a plain read"
    );

    let (status, _, session) = call(
        &app,
        reqwest::Method::POST,
        &format!("/api/customers/{alice}/portal_sessions/"),
        &business.token,
        Some(json!({"return_url": "https://app.test/billing"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert!(session["url"].as_str().expect("url").starts_with("http"));
    assert_eq!(session["return_url"], "https://app.test/billing");
    assert!(session["created"].as_str().expect("created").ends_with('Z'));
}

#[tokio::test]
async fn forgetting_a_customer_removes_it_here_and_nothing_at_stripe() {
    let app = TestApp::spawn().await;
    let (business, alice) = business_with_alice(&app).await;
    let (status, _, _) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/customers/{alice}/"),
        &business.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, error) = get(&app, &business.token, &format!("/api/customers/{alice}/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"], "customer_not_recorded");
    assert!(
        app.emulator()
            .count("DELETE", &format!("/v1/customers/{alice}"))
            == 0
    );
    let (status, _, _) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/customers/{alice}/"),
        &business.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let response = reqwest::Client::new()
        .get(app.url("/api/customers/"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .starts_with("Bearer"));
    let (status, headers, body) = get(&app, "not-a-token", "/api/customers/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers["www-authenticate"]
        .to_str()
        .expect("ascii")
        .contains("invalid_token"));
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn a_read_only_token_cannot_record_customers() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    app.connect_stripe(None).await;
    let pkce = Pkce::new();
    let code = code_for(
        &app,
        &authorize_query(&client.client_id, &pkce, &[("scope", "customers:read")]),
    )
    .await;
    let token = exchange(&app, &client.client_id, &code, &pkce.verifier)
        .await
        .access_token();
    let (status, body) = record(&app, &token, "cus_anything1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(get(&app, &token, "/api/customers/").await.0, StatusCode::OK);
}

#[tokio::test]
async fn malformed_input_gets_400_naming_the_field_and_records_nothing() {
    let app = TestApp::spawn().await;
    let business = connected_business(&app).await;
    let cases = [
        (json!({"customer_id": "sub_123"}), "customer_id"),
        (json!({"customer_id": "cus_x/../y"}), "customer_id"),
        (json!({"customer_id": 42}), "customer_id"),
        (json!({}), "customer_id"),
        (
            json!({"customer_id": "cus_abc123", "return_url": "javascript:alert(1)"}),
            "return_url",
        ),
        (json!({"customer_id": "cus_abc123", "extra": true}), "extra"),
    ];
    for (body, field) in cases {
        let (status, _, error) = call(
            &app,
            reqwest::Method::POST,
            "/api/customers/",
            &business.token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error["error"], "invalid_request", "{body}");
        assert_eq!(error["field"], field, "{body}: {error}");
    }
    let response = reqwest::Client::new()
        .post(app.url("/api/customers/"))
        .bearer_auth(&business.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, _, page) = get(&app, &business.token, "/api/customers/").await;
    assert_eq!(page["data"], json!([]));
}

#[tokio::test]
async fn a_business_without_a_stripe_connection_gets_409() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let token = spa_tokens(&app, &client).await.access_token();
    let (status, body) = record(&app, &token, "cus_abc123").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "stripe_not_connected");
    assert!(body["message"]
        .as_str()
        .expect("message")
        .contains("Connect"));
}

#[tokio::test]
async fn unknown_and_deleted_customers_get_404_and_410() {
    let app = TestApp::spawn().await;
    let business = connected_business(&app).await;
    let (status, body) = record(&app, &business.token, "cus_doesnotexist").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "customer_not_found");

    let frank = customer_named(&app, &business.account, "Frank Deleted");
    let (status, body) = record(&app, &business.token, &frank).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body["error"], "customer_deleted");
    let (_, _, page) = get(&app, &business.token, "/api/customers/").await;
    assert_eq!(page["data"], json!([]), "nothing half-written");
}

#[tokio::test]
async fn an_account_without_portal_settings_gets_409_with_stripes_words() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let account = app.emulator().create_account("No Portal Ltd", false);
    app.connect_stripe(Some(&account)).await;
    let token = spa_tokens(&app, &client).await.access_token();
    let alice = customer_named(&app, &account, "Alice Active");
    let (status, body) = record(&app, &token, &alice).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "portal_not_configured");
    assert!(body["message"]
        .as_str()
        .expect("message")
        .contains("customer portal settings"));
}

#[tokio::test]
async fn stripe_failing_after_retries_gives_503_with_retry_after() {
    let app = TestApp::builder()
        .with_env("STRIPE_MAX_RETRIES", "1")
        .spawn()
        .await;
    let business = connected_business(&app).await;
    let alice = customer_named(&app, &business.account, "Alice Active");
    for _ in 0..2 {
        app.emulator()
            .inject(Fault::status("/v1/customers", 503, Some(true)));
    }
    let (status, headers, body) = call(
        &app,
        reqwest::Method::POST,
        "/api/customers/",
        &business.token,
        Some(json!({"customer_id": alice})),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "stripe_unavailable");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_stripe_timeout_gives_504() {
    let app = TestApp::builder()
        .with_env("STRIPE_MAX_RETRIES", "0")
        .with_env("STRIPE_TIMEOUT_SECONDS", "1")
        .spawn()
        .await;
    let business = connected_business(&app).await;
    let alice = customer_named(&app, &business.account, "Alice Active");
    app.emulator().inject(Fault::on(
        "/v1/customers",
        FaultAction::Delay(std::time::Duration::from_secs(3)),
    ));
    let (status, body) = record(&app, &business.token, &alice).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"], "stripe_timeout");
}

#[tokio::test]
async fn a_signed_subscription_webhook_updates_the_cache_without_calling_stripe() {
    let app = TestApp::spawn().await;
    let (business, alice) = business_with_alice(&app).await;
    let calls_before = app.emulator().requests().len();

    let subscription = app.emulator().inspect(|model| {
        let account = &model.accounts[&business.account];
        let sub = account
            .subscriptions
            .iter()
            .find(|s| s.customer == alice)
            .expect("sub");
        account.subscription_json(
            sub,
            bridgekeeper::config::DEFAULT_STRIPE_API_VERSION,
            false,
            false,
        )
    });
    let mut updated = subscription.clone();
    updated["cancel_at_period_end"] = json!(true);
    let event = app.emulator().event(
        "customer.subscription.updated",
        Some(&business.account),
        updated,
    );
    let response = app.send_event(&event).await;
    assert_eq!(response.status(), StatusCode::OK);

    let (status, _, document) =
        get(&app, &business.token, &format!("/api/customers/{alice}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["subscriptions"][0]["cancel_at_period_end"], true);
    assert_eq!(document["subscriptions"][0]["renews_at"], Value::Null);
    assert_eq!(
        app.emulator().requests().len(),
        calls_before,
        "served from the cache"
    );

    // An older event delivered late does not undo the newer state.
    let mut older = app.emulator().event(
        "customer.subscription.updated",
        Some(&business.account),
        subscription,
    );
    older["id"] = json!("evt_older_delivered_late");
    older["created"] = json!(event["created"].as_i64().expect("created") - 60);
    app.send_event(&older).await;
    let (_, _, document) = get(&app, &business.token, &format!("/api/customers/{alice}/")).await;
    assert_eq!(document["subscriptions"][0]["cancel_at_period_end"], true);
}

#[tokio::test]
async fn the_last_copy_is_served_as_stale_while_stripe_is_down() {
    let app = TestApp::builder()
        .with_env("CUSTOMERS_REFRESH_AFTER_SECONDS", "60")
        .with_env("STRIPE_MAX_RETRIES", "0")
        .spawn()
        .await;
    let (business, alice) = business_with_alice(&app).await;

    // Fresh enough: no call to Stripe.
    let before = app.emulator().requests().len();
    let (_, _, document) = get(&app, &business.token, &format!("/api/customers/{alice}/")).await;
    assert_eq!(document["stale"], false);
    assert_eq!(app.emulator().requests().len(), before);

    // Older than the refresh age, and Stripe is down: the old copy, marked stale.
    app.clock.advance(61);
    app.emulator()
        .inject(Fault::on("/v1/customers", FaultAction::DropConnection));
    let (status, _, document) =
        get(&app, &business.token, &format!("/api/customers/{alice}/")).await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert_eq!(document["stale"], true);
    assert_eq!(document["customer_id"], alice);
    assert_eq!(document["subscriptions"][0]["status"], "active");

    // Stripe is back: refreshed, not stale.
    let (_, _, document) = get(&app, &business.token, &format!("/api/customers/{alice}/")).await;
    assert_eq!(document["stale"], false);
}

#[tokio::test]
async fn a_token_of_one_business_never_sees_another_business_customers() {
    let app = TestApp::spawn().await;
    let first = connected_business(&app).await;
    let alice = customer_named(&app, &first.account, "Alice Active");
    record(&app, &first.token, &alice).await;

    // A second business, in its own browser, with its own client and connection.
    let other = TestApp::builder().sharing_database_with(&app).spawn().await;
    let user = other.create_account("owner@other.test", false).await;
    other
        .log_in("owner@other.test", crate::support::PASSWORD)
        .await;
    let (client, _) = crate::oauth::register(&other, &user, crate::oauth::spa_form()).await;
    let token = spa_tokens(&other, &client).await.access_token();

    let (status, _, error) = get(&other, &token, &format!("/api/customers/{alice}/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"], "customer_not_recorded");
    let (_, _, page) = get(&other, &token, "/api/customers/").await;
    assert_eq!(page["data"], json!([]));
    let (status, _, _) = call(
        &other,
        reqwest::Method::DELETE,
        &format!("/api/customers/{alice}/"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&app, &first.token, &format!("/api/customers/{alice}/")).await;
    assert_eq!(status, StatusCode::OK, "still there for its owner");
}

mod browser {
    use fantoccini::Locator;

    use super::customer_named;
    use crate::support::browser::Browser;
    use crate::support::TestApp;

    #[tokio::test]
    async fn the_customers_tab_lists_status_and_renewal_and_opens_the_portal_in_one_click() {
        let app = TestApp::spawn().await;
        let user = app.logged_in_business("owner@acme.test").await;
        let account = app.connect_stripe(None).await;
        let alice = customer_named(&app, &account, "Alice Active");
        let bob = customer_named(&app, &account, "Bob Trial");
        app.state
            .customers
            .record(
                user.id,
                &alice,
                None,
                bridgekeeper::events::Actor::system("test"),
            )
            .await
            .expect("recorded");

        let browser = Browser::start().await;
        let c = &browser.client;
        browser
            .log_in(
                &app.url("/login?next=/dashboard/customers/"),
                "owner@acme.test",
            )
            .await;

        let table = c
            .wait()
            .for_element(Locator::Css("table.customers"))
            .await
            .expect("customers table");
        let text = table.text().await.expect("text");
        assert!(text.contains("Alice Active"), "{text}");
        assert!(text.contains(&alice), "{text}");
        assert!(text.contains("active"), "{text}");
        assert!(text.contains("Pro monthly (20.00 USD / month)"), "{text}");
        assert!(text.contains("UTC"), "a next renewal date: {text}");

        // Record another customer with the form.
        browser.fill("input[name=customer_id]", &bob).await;
        browser
            .click("form[action='/dashboard/customers/'] button")
            .await;
        let flash = c
            .wait()
            .for_element(Locator::Css(".flash.success"))
            .await
            .expect("flash");
        assert!(flash.text().await.expect("text").contains(&bob));
        let text = c
            .find(Locator::Css("table.customers"))
            .await
            .expect("table")
            .text()
            .await
            .expect("text");
        assert!(
            text.contains("Bob Trial") && text.contains("trialing"),
            "{text}"
        );

        // One click opens a portal session at Stripe (the emulator).
        let button = format!("form[action='/dashboard/customers/{alice}/portal'] button");
        browser.click(&button).await;
        let emulator = app.emulator().base_url().clone();
        let mut url = c.current_url().await.expect("url");
        for _ in 0..50 {
            if url.port() == emulator.port() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            url = c.current_url().await.expect("url");
        }
        assert_eq!(url.port(), emulator.port(), "on the portal: {url}");
        assert!(url.path().starts_with("/p/session/"), "{url}");
        browser.close().await;
    }
}
