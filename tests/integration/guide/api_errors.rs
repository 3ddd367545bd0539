//! The guide's tables of API errors, held against the server: each documented
//! (status, code) pair is provoked, and nothing else is answered.

use std::collections::BTreeSet;

use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::{json, Value};
use stripe_emulator::{Fault, FaultAction};

use super::{business_with_stripe, customer_named, guide_text, public_client, GUIDE};
use crate::oauth::{authorize_query, code_for, exchange, Pkce};
use crate::support::TestApp;

/// The `| status | \`code\` | …` rows of the table under `heading`.
fn table(heading: &str) -> BTreeSet<(u16, String)> {
    let guide = guide_text();
    let start = guide
        .find(heading)
        .unwrap_or_else(|| panic!("{GUIDE} has no section {heading}"));
    let section = &guide[start + heading.len()..];
    let section = &section[..section.find("\n#").unwrap_or(section.len())];
    section
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let status = cells.next()?.parse().ok()?;
            let code = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            Some((status, code.to_owned()))
        })
        .collect()
}

/// Calls the API and keeps the (status, `error`) of each answer.
struct Caller<'a> {
    app: &'a TestApp,
    seen: BTreeSet<(u16, String)>,
}

impl Caller<'_> {
    async fn call(&mut self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) {
        let mut request = reqwest::Client::new().request(method, self.app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON error");
        let code = body["error"].as_str().expect("an error code").to_owned();
        self.seen.insert((status, code));
    }

    async fn get(&mut self, path: &str, token: Option<&str>) {
        self.call(Method::GET, path, token, None).await;
    }

    async fn record(&mut self, token: &str, customer_id: &str) {
        let body = json!({ "customer_id": customer_id });
        self.call(Method::POST, "/api/customers/", Some(token), Some(body))
            .await;
    }
}

async fn token(app: &TestApp, client_id: &str, scope: &str) -> String {
    let pkce = Pkce::new();
    let code = code_for(app, &authorize_query(client_id, &pkce, &[("scope", scope)])).await;
    exchange(app, client_id, &code, &pkce.verifier)
        .await
        .access_token()
}

#[tokio::test]
async fn every_api_error_in_the_guide_is_answered_with_its_status_and_no_other() {
    let app = TestApp::builder()
        .with_env("STRIPE_MAX_RETRIES", "0")
        .with_env("STRIPE_TIMEOUT_SECONDS", "1")
        .spawn()
        .await;
    let (owner, account, alice) = business_with_stripe(&app).await;
    let client = public_client(&app, &owner, crate::oauth::SPA_REDIRECT, None).await;
    let write = token(&app, &client.client_id, "customers:read customers:write").await;
    let read = token(&app, &client.client_id, "customers:read").await;
    let mut api = Caller {
        app: &app,
        seen: BTreeSet::new(),
    };

    api.get("/api/customers/", None).await; // 401 unauthorized
    api.get("/api/customers/", Some("not-a-token")).await; // 401 invalid_token
    api.get(&format!("/api/customers/?access_token={write}"), None)
        .await; // 401 invalid_request
    api.record(&read, &alice).await; // 403 insufficient_scope
    api.record(&write, "sub_1").await; // 400 invalid_request
    api.record(&write, "cus_nosuchone").await; // 404 customer_not_found
    api.get(&format!("/api/customers/{alice}/"), Some(&write))
        .await; // 404 customer_not_recorded
    api.get("/api/nothing/", Some(&write)).await; // 404 not_found
    let frank = customer_named(&app, &account, "Frank Deleted");
    api.record(&write, &frank).await; // 410 customer_deleted

    let stripe = app.emulator();
    stripe.inject(Fault::status("/v1/customers", 400, None));
    api.record(&write, &alice).await; // 502 stripe_error
    stripe.inject(Fault::status("/v1/customers", 503, Some(true)));
    api.record(&write, &alice).await; // 503 stripe_unavailable
    let slow = FaultAction::Delay(std::time::Duration::from_secs(3));
    stripe.inject(Fault::on("/v1/customers", slow));
    api.record(&write, &alice).await; // 504 stripe_timeout
    stripe.inspect(|model| {
        let connected = model.accounts.get_mut(&account).expect("account");
        connected.has_portal_config = false;
    });
    api.record(&write, &alice).await; // 409 portal_not_configured
    stripe.inspect(|model| {
        let connected = model.accounts.get_mut(&account).expect("account");
        connected.has_portal_config = true;
    });
    app.state
        .customers
        .record(
            owner.id,
            &alice,
            None,
            bridgekeeper::events::Actor::system("test"),
        )
        .await
        .expect("recorded");
    assert!(stripe.revoke_from_dashboard(&account).await);
    api.record(&write, &alice).await; // 409 stripe_not_connected
    api.get(&format!("/api/customers/{alice}/"), Some(&write))
        .await; // 409 customer_detached

    // A database that lost a table: the server's own failure, without details.
    app.raw_database(|conn| {
        diesel::sql_query("DROP TABLE customer_subscriptions")
            .execute(conn)
            .expect("drop a table")
    })
    .await;
    api.get("/api/customers/", Some(&write)).await; // 500 internal_error

    let mut documented = table("### Bearer tokens at `/api/`");
    documented.extend(table("### Customers API errors"));
    assert_eq!(
        api.seen, documented,
        "provoked vs. documented (status, error)"
    );
}
