//! Tenancy across a Stripe account that moves between businesses: a recorded customer
//! belongs to the Stripe connection it was recorded under. Once that connection ends,
//! the business sees nothing more from the account (no read from Stripe, no webhook
//! update, no portal session), whoever connects the account next; reconnecting the
//! same account attaches the business's customers again.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::customers::{call, customer_named, get, record};
use crate::oauth::{register, spa_form, spa_tokens};
use crate::support::stripe::decide;
use crate::support::{TestApp, PASSWORD};

/// A business logged in on `app.client`, with its own SPA client and a token with both
/// customer scopes (the person at `app.client` consents).
async fn business(app: &TestApp, email: &str) -> String {
    let user = app.logged_in_business(email).await;
    let (client, _) = register(app, &user, spa_form()).await;
    spa_tokens(app, &client).await.access_token()
}

/// Switches `app.client` to `email`'s session.
async fn log_in_as(app: &TestApp, email: &str) {
    let response = app.log_in(email, PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "log in as {email}"
    );
}

async fn disconnect(app: &TestApp) {
    let response = app.post_form("/dashboard/connect/disconnect", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

async fn portal(app: &TestApp, token: &str, customer: &str) -> (StatusCode, Value) {
    let (status, _, body) = call(
        app,
        Method::POST,
        &format!("/api/customers/{customer}/portal_sessions/"),
        token,
        Some(json!({"return_url": "https://app.test/billing"})),
    )
    .await;
    (status, body)
}

/// The customer's entry in the business's list.
async fn listed(app: &TestApp, token: &str, customer: &str) -> Value {
    let (status, _, page) = get(app, token, "/api/customers/").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|c| c["customer_id"] == customer)
        .cloned()
        .unwrap_or_else(|| panic!("{customer} is not listed: {page}"))
}

/// The customer's (single) subscription as Stripe sends it, with `change` applied.
fn subscription_event(
    app: &TestApp,
    account: &str,
    customer: &str,
    change: impl FnOnce(&mut Value),
) -> Value {
    let mut object = app.emulator().inspect(|model| {
        let acct = &model.accounts[account];
        let sub = acct
            .subscriptions
            .iter()
            .find(|s| s.customer == customer)
            .expect("a subscription");
        acct.subscription_json(
            sub,
            bridgekeeper::config::DEFAULT_STRIPE_API_VERSION,
            false,
            false,
        )
    });
    change(&mut object);
    app.emulator()
        .event("customer.subscription.updated", Some(account), object)
}

fn customer_event(app: &TestApp, account: &str, customer: &str, email: &str) -> Value {
    let mut object = app.emulator().inspect(|model| {
        let acct = &model.accounts[account];
        acct.customer_json(acct.customer(customer).expect("the customer"))
    });
    object["email"] = json!(email);
    app.emulator()
        .event("customer.updated", Some(account), object)
}

async fn outcome(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    body["outcome"].as_str().unwrap_or_default().to_owned()
}

/// Requests that reached Stripe's API (the emulator's `/v1/`).
fn api_calls(app: &TestApp) -> usize {
    app.emulator()
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v1/"))
        .count()
}

fn assert_detached(status: StatusCode, body: &Value, account: &str) {
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "customer_detached", "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(message.contains(account), "names the account: {message}");
    assert!(
        message.contains("Connect tab"),
        "says what to do: {message}"
    );
}

#[tokio::test]
async fn after_a_stripe_account_moves_to_another_business_the_first_sees_nothing_more_from_it() {
    let app = TestApp::spawn().await;
    let account = app.emulator().create_account("Moving Stripe Ltd", true);
    let alice = customer_named(&app, &account, "Alice Active");

    // Business A connects the account, records Alice, and disconnects.
    let a = business(&app, "a@first.test").await;
    assert_eq!(app.connect_stripe(Some(&account)).await, account);
    let (status, document) = record(&app, &a, &alice).await;
    assert_eq!(status, StatusCode::CREATED, "{document}");
    disconnect(&app).await;

    // Detached at once: no read from Stripe, no portal session; listed as it was.
    let before = api_calls(&app);
    let (status, _, body) = get(&app, &a, &format!("/api/customers/{alice}/")).await;
    assert_detached(status, &body, &account);
    let (status, body) = portal(&app, &a, &alice).await;
    assert_detached(status, &body, &account);
    let entry = listed(&app, &a, &alice).await;
    assert_eq!(entry["detached"], true, "{entry}");
    assert_eq!(entry["stale"], true, "{entry}");
    assert_eq!(entry["email"], "alice@example.com");
    assert_eq!(api_calls(&app), before, "nothing was asked of Stripe for A");

    // Business B connects the same account and records the same customer.
    let b = business(&app, "b@second.test").await;
    assert_eq!(app.connect_stripe(Some(&account)).await, account);
    let (status, document) = record(&app, &b, &alice).await;
    assert_eq!(status, StatusCode::CREATED, "{document}");
    assert_eq!(document["detached"], false);

    // Stripe's webhooks for the account update B's copy, never A's.
    let cancelling = subscription_event(&app, &account, &alice, |s| {
        s["cancel_at_period_end"] = json!(true);
    });
    assert_eq!(outcome(app.send_event(&cancelling).await).await, "applied");
    let renamed = customer_event(&app, &account, &alice, "alice@new-address.test");
    assert_eq!(outcome(app.send_event(&renamed).await).await, "applied");
    let (status, _, seen_by_b) = get(&app, &b, &format!("/api/customers/{alice}/")).await;
    assert_eq!(status, StatusCode::OK, "{seen_by_b}");
    assert_eq!(seen_by_b["subscriptions"][0]["cancel_at_period_end"], true);
    assert_eq!(seen_by_b["email"], "alice@new-address.test");
    let entry = listed(&app, &a, &alice).await;
    assert_eq!(entry["detached"], true);
    assert_eq!(entry["email"], "alice@example.com", "A's copy is untouched");
    assert_eq!(entry["subscriptions"][0]["cancel_at_period_end"], false);

    // A's read and portal request are refused, though the account is connected again
    // (to B), and nothing goes to Stripe for them.
    let before = api_calls(&app);
    let (status, _, body) = get(&app, &a, &format!("/api/customers/{alice}/")).await;
    assert_detached(status, &body, &account);
    let (status, body) = portal(&app, &a, &alice).await;
    assert_detached(status, &body, &account);
    assert_eq!(api_calls(&app), before, "nothing was asked of Stripe for A");

    // A can still forget it; B's record stays.
    let (status, _, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/customers/{alice}/"),
        &a,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = get(&app, &b, &format!("/api/customers/{alice}/")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn reconnecting_the_same_account_attaches_the_customers_again_and_rereads_them_from_stripe() {
    let app = TestApp::spawn().await;
    let account = app.emulator().create_account("Moving Stripe Ltd", true);
    let alice = customer_named(&app, &account, "Alice Active");

    let a = business(&app, "a@first.test").await;
    app.connect_stripe(Some(&account)).await;
    assert_eq!(record(&app, &a, &alice).await.0, StatusCode::CREATED);
    disconnect(&app).await;

    // B holds the account for a while; what happens then reaches B only.
    let b = business(&app, "b@second.test").await;
    app.connect_stripe(Some(&account)).await;
    assert_eq!(record(&app, &b, &alice).await.0, StatusCode::CREATED);
    let renamed = customer_event(&app, &account, &alice, "alice@while-away.test");
    assert_eq!(outcome(app.send_event(&renamed).await).await, "applied");
    disconnect(&app).await;

    // A connects the account again: its customers are attached again, and the first
    // read goes to Stripe (the copy missed what happened while it was detached).
    log_in_as(&app, "a@first.test").await;
    app.emulator().inspect(|model| {
        let acct = model.accounts.get_mut(&account).expect("account");
        let c = acct
            .customers
            .iter_mut()
            .find(|c| c.id == alice)
            .expect("alice");
        c.email = "alice@changed-at-stripe.test".into();
    });
    app.clock.advance(1);
    let authorize = app.start_connect().await;
    let callback = decide(&authorize, "approve", Some(&account)).await;
    let response = app
        .client
        .get(callback.as_str())
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let tab = app
        .get("/dashboard/connect/")
        .await
        .text()
        .await
        .expect("tab");
    assert!(
        tab.contains("1 customer you recorded in it before is attached again."),
        "{tab}"
    );
    let entry = listed(&app, &a, &alice).await;
    assert_eq!(entry["detached"], false, "{entry}");
    assert_eq!(entry["stale"], true, "not re-read since it was detached");
    let reads = app
        .emulator()
        .count("GET", &format!("/v1/customers/{alice}"));
    let (status, _, document) = get(&app, &a, &format!("/api/customers/{alice}/")).await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert_eq!(document["detached"], false);
    assert_eq!(document["stale"], false);
    assert_eq!(document["email"], "alice@changed-at-stripe.test");
    assert_eq!(
        app.emulator()
            .count("GET", &format!("/v1/customers/{alice}")),
        reads + 1,
        "re-read from Stripe"
    );
    let (status, session) = portal(&app, &a, &alice).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");

    // Webhooks reach A again, and no longer B.
    let cancelling = subscription_event(&app, &account, &alice, |s| {
        s["cancel_at_period_end"] = json!(true);
    });
    assert_eq!(outcome(app.send_event(&cancelling).await).await, "applied");
    let (_, _, document) = get(&app, &a, &format!("/api/customers/{alice}/")).await;
    assert_eq!(document["subscriptions"][0]["cancel_at_period_end"], true);
    let (status, _, body) = get(&app, &b, &format!("/api/customers/{alice}/")).await;
    assert_detached(status, &body, &account);
    let entry = listed(&app, &b, &alice).await;
    assert_eq!(entry["subscriptions"][0]["cancel_at_period_end"], false);
}

#[tokio::test]
async fn connecting_another_account_leaves_the_earlier_customers_detached() {
    let app = TestApp::spawn().await;
    let first = app.emulator().create_account("First Stripe Ltd", true);
    let second = app.emulator().create_account("Second Stripe Ltd", true);
    let alice = customer_named(&app, &first, "Alice Active");

    let token = business(&app, "a@first.test").await;
    app.connect_stripe(Some(&first)).await;
    assert_eq!(record(&app, &token, &alice).await.0, StatusCode::CREATED);
    disconnect(&app).await;
    app.connect_stripe(Some(&second)).await;

    let (status, _, body) = get(&app, &token, &format!("/api/customers/{alice}/")).await;
    assert_detached(status, &body, &first);
    let (status, body) = portal(&app, &token, &alice).await;
    assert_detached(status, &body, &first);
    assert_eq!(listed(&app, &token, &alice).await["detached"], true);
    // Recording it again asks the account now connected, which has no such customer.
    let (status, body) = record(&app, &token, &alice).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "customer_not_found");
    // Events of the first account reach nobody.
    let renamed = customer_event(&app, &first, &alice, "alice@elsewhere.test");
    assert_eq!(outcome(app.send_event(&renamed).await).await, "recorded");
    assert_eq!(
        listed(&app, &token, &alice).await["email"],
        "alice@example.com"
    );
}

#[tokio::test]
async fn stripe_removing_the_platform_detaches_the_customers_too() {
    let app = TestApp::spawn().await;
    let token = business(&app, "a@first.test").await;
    let account = app.connect_stripe(None).await;
    let alice = customer_named(&app, &account, "Alice Active");
    assert_eq!(record(&app, &token, &alice).await.0, StatusCode::CREATED);

    assert!(app.emulator().revoke_from_dashboard(&account).await);
    let (status, _, body) = get(&app, &token, &format!("/api/customers/{alice}/")).await;
    assert_detached(status, &body, &account);
    assert_eq!(listed(&app, &token, &alice).await["detached"], true);
}

#[tokio::test]
async fn the_customers_tab_shows_detached_customers_without_a_portal_button() {
    let app = TestApp::spawn().await;
    let token = business(&app, "a@first.test").await;
    let account = app.connect_stripe(None).await;
    let alice = customer_named(&app, &account, "Alice Active");
    assert_eq!(record(&app, &token, &alice).await.0, StatusCode::CREATED);
    let page = app
        .get("/dashboard/customers/")
        .await
        .text()
        .await
        .expect("page");
    assert!(!page.contains("status-detached"), "{page}");
    assert!(page.contains(&format!("/dashboard/customers/{alice}/portal")));

    disconnect(&app).await;
    let page = app
        .get("/dashboard/customers/")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("id=\"detached-note\""), "{page}");
    assert!(page.contains("<span class=\"status status-detached\">detached</span>"));
    assert!(page.contains(&alice));
    assert!(
        !page.contains(&format!("/dashboard/customers/{alice}/portal")),
        "no portal button for a detached customer: {page}"
    );

    // The portal form, posted anyway, is refused with the reason.
    let response = app
        .post_form(&format!("/dashboard/customers/{alice}/portal"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = app
        .get("/dashboard/customers/")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("no longer connected to this business"),
        "{page}"
    );
}

#[tokio::test]
async fn one_stripe_account_is_live_for_one_business_at_most_even_for_the_database() {
    use bridgekeeper::db::schema::stripe_connections::dsl as c;
    use diesel::prelude::*;

    let app = TestApp::spawn().await;
    let first = app.logged_in_business("a@first.test").await;
    let account = app.connect_stripe(None).await;
    let second = app.create_account("b@second.test", false).await;
    let (first_id, second_id) = (first.id.0, second.id.0);
    let taken = account.clone();
    let (again_for_account, again_for_business) = app
        .raw_database(move |conn| {
            let row = |user: i64, acct: &str| {
                (
                    c::user_id.eq(user),
                    c::stripe_user_id.eq(acct.to_owned()),
                    c::livemode.eq(false),
                    c::scope.eq("read_write"),
                    c::status.eq("connected"),
                    c::connected_at.eq(1_i64),
                    c::updated_at.eq(1_i64),
                )
            };
            let for_account = diesel::insert_into(c::stripe_connections)
                .values(row(second_id, &taken))
                .execute(conn);
            let for_business = diesel::insert_into(c::stripe_connections)
                .values(row(first_id, "acct_another0000001"))
                .execute(conn);
            (for_account.is_err(), for_business.is_err())
        })
        .await;
    assert!(again_for_account, "a second live connection to {account}");
    assert!(
        again_for_business,
        "a second live connection of one business"
    );
}
