//! The guide's tables of API errors, held against the server: each documented
//! (status, code) pair is provoked, and nothing else is answered.

use std::collections::BTreeSet;

use bridgekeeper::sandbox::{Fault, FaultAction};
use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::{json, Value};

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

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = reqwest::Client::new().request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error");
    (
        status,
        body["error"].as_str().expect("an error code").to_owned(),
    )
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
    let record = |id: &str| Some(json!({ "customer_id": id }));
    let post = Method::POST;
    let mut seen = BTreeSet::new();
    let mut see = |answer: (u16, String)| seen.insert(answer);

    see(call(&app, Method::GET, "/api/customers/", None, None).await);
    see(call(
        &app,
        Method::GET,
        "/api/customers/",
        Some("not-a-token"),
        None,
    )
    .await);
    see(call(
        &app,
        Method::GET,
        &format!("/api/customers/?access_token={write}"),
        None,
        None,
    )
    .await);
    see(call(
        &app,
        post.clone(),
        "/api/customers/",
        Some(&read),
        record(&alice),
    )
    .await);
    see(call(
        &app,
        post.clone(),
        "/api/customers/",
        Some(&write),
        record("sub_1"),
    )
    .await);
    see(call(
        &app,
        post.clone(),
        "/api/customers/",
        Some(&write),
        record("cus_nosuchone"),
    )
    .await);
    see(call(
        &app,
        Method::GET,
        &format!("/api/customers/{alice}/"),
        Some(&write),
        None,
    )
    .await);
    see(call(&app, Method::GET, "/api/nothing/", Some(&write), None).await);
    let frank = customer_named(&app, &account, "Frank Deleted");
    see(call(
        &app,
        post.clone(),
        "/api/customers/",
        Some(&write),
        record(&frank),
    )
    .await);

    app.emulator()
        .inject(Fault::status("/v1/customers", 400, None));
    see(call(
        &app,
        post.clone(),
        "/api/customers/",
        Some(&write),
        record(&alice),
    )
    .await);
    app.emulator()
        .inject(Fault::status("/v1/customers", 503, Some(true)));
    see(call(
        &app,
        post.clone(),
        "/api/customers/",
        Some(&write),
        record(&alice),
    )
    .await);
    app.emulator().inject(Fault::on(
        "/v1/customers",
        FaultAction::Delay(std::time::Duration::from_secs(3)),
    ));
    see(call(
        &app,
        post.clone(),
        "/api/customers/",
        Some(&write),
        record(&alice),
    )
    .await);

    app.emulator().inspect(|model| {
        model
            .accounts
            .get_mut(&account)
            .expect("account")
            .has_portal_config = false
    });
    see(call(
        &app,
        post.clone(),
        "/api/customers/",
        Some(&write),
        record(&alice),
    )
    .await);

    assert!(app.emulator().revoke_from_dashboard(&account).await);
    see(call(
        &app,
        post.clone(),
        "/api/customers/",
        Some(&write),
        record(&alice),
    )
    .await);

    // A database that lost a table: the server's own failure, without details.
    app.state
        .db
        .run(|tx| {
            diesel::sql_query("DROP TABLE customer_subscriptions").execute(tx.conn)?;
            Ok::<_, bridgekeeper::db::DbError>(())
        })
        .await
        .expect("drop a table");
    see(call(&app, Method::GET, "/api/customers/", Some(&write), None).await);

    let mut documented = table("### Bearer tokens at `/api/`");
    documented.extend(table("### Customers API errors"));
    assert_eq!(seen, documented, "provoked vs. documented (status, error)");
}
