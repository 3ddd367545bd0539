//! The Connect tab over HTTP in sandbox mode: the authorize redirect, the callback's
//! state checks, the code exchange, an account taken by another business, Disconnect.

use bridgekeeper::db::stripe_connect_states;
use diesel::prelude::*;
use reqwest::StatusCode;
use stripe_emulator::{Fault, FaultAction};

use crate::support::stripe::{decide, query_param};
use crate::support::{location, TestApp};

async fn tab(app: &TestApp) -> String {
    app.get("/dashboard/connect/")
        .await
        .text()
        .await
        .expect("body")
}

#[tokio::test]
async fn connect_redirects_to_stripe_with_every_parameter_and_a_hashed_single_use_state() {
    let app = TestApp::spawn().await;
    let user = app.logged_in_business("owner@acme.test").await;
    assert!(tab(&app).await.contains("Not connected"));

    let authorize = app.start_connect().await;
    let emulator = app.emulator().base_url().clone();
    assert_eq!(authorize.host_str(), emulator.host_str());
    assert_eq!(authorize.port(), emulator.port());
    assert_eq!(authorize.path(), "/oauth/authorize");
    let credentials = app.state.stripe.sandbox_credentials().expect("sandbox");
    assert_eq!(
        query_param(&authorize, "response_type").as_deref(),
        Some("code")
    );
    assert_eq!(
        query_param(&authorize, "client_id"),
        Some(credentials.connect_client_id.clone())
    );
    assert_eq!(
        query_param(&authorize, "scope").as_deref(),
        Some("read_write")
    );
    assert_eq!(
        query_param(&authorize, "redirect_uri"),
        Some(format!("{}/connect/stripe/callback", app.address))
    );
    assert_eq!(
        query_param(&authorize, "stripe_user[email]").as_deref(),
        Some("owner@acme.test")
    );
    assert_eq!(
        query_param(&authorize, "stripe_user[business_name]").as_deref(),
        Some("Acme Inc")
    );
    let state = query_param(&authorize, "state").expect("state");
    assert!(state.len() >= 43, "32 random bytes, base64url: {state}");

    // Stored hashed, bound to the business, valid for 10 minutes.
    let rows = app
        .raw_database(|conn| {
            bridgekeeper::db::schema::stripe_connect_states::table
                .select(stripe_connect_states::ConnectState::as_select())
                .load(conn)
                .expect("rows")
        })
        .await;
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].state_hash, state);
    assert!(!rows[0].state_hash.contains(&state));
    assert_eq!(rows[0].user_id, user.id);
    assert_eq!(rows[0].expires_at - rows[0].created_at, 600);

    // The emulator's authorize page renders for these parameters.
    let page = reqwest::get(authorize.as_str()).await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page
        .text()
        .await
        .expect("body")
        .contains("Connect my Stripe account"));
}

#[tokio::test]
async fn approving_connects_the_account_and_the_tab_shows_it() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let account = app.connect_stripe(None).await;
    assert!(account.starts_with("acct_"));
    let page = tab(&app).await;
    assert!(
        page.contains(&format!(
            "Connected to Stripe account <code id=\"account-id\">{account}</code>"
        )),
        "{page}"
    );
    assert!(page.contains("read_write"));
    assert!(page.contains("livemode: false"));
    assert!(page.contains("Disconnect"));
    assert_eq!(app.emulator().count("POST", "/oauth/token"), 1);

    // Tokens are sealed at rest, never stored in clear.
    let (access, refresh) = app.emulator().inspect(|m| {
        let access = m
            .access_tokens
            .iter()
            .find(|(_, t)| t.account == account)
            .map(|(k, _)| k.clone());
        let refresh = m
            .refresh_tokens
            .iter()
            .find(|(_, t)| t.account == account)
            .map(|(k, _)| k.clone());
        (access.expect("access"), refresh.expect("refresh"))
    });
    let db = app.state.db.clone();
    let row = db
        .read(move |conn| {
            Ok::<_, bridgekeeper::db::DbError>(
                bridgekeeper::db::stripe_connections::connected_to_account(conn, &account)?,
            )
        })
        .await
        .expect("row");
    let sealed = row[0].access_token_sealed.clone().expect("sealed");
    assert!(!String::from_utf8_lossy(&sealed).contains(&access));
    assert!(
        !String::from_utf8_lossy(row[0].refresh_token_sealed.as_deref().unwrap_or_default())
            .contains(&refresh)
    );

    let audit = bridgekeeper::audit::recent(&app.state.db, None, 50)
        .await
        .expect("audit");
    assert!(audit.iter().any(|e| e.action == "stripe.connected"));
}

#[tokio::test]
async fn a_used_state_cannot_be_replayed_and_no_code_is_exchanged_twice() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let authorize = app.start_connect().await;
    let callback = decide(&authorize, "approve", None).await;
    assert_eq!(
        app.client
            .get(callback.as_str())
            .send()
            .await
            .expect("first")
            .status(),
        StatusCode::SEE_OTHER
    );
    let replay = app
        .client
        .get(callback.as_str())
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.expect("body").contains("already used"));
    assert_eq!(
        app.emulator().count("POST", "/oauth/token"),
        1,
        "no second exchange"
    );
    assert!(
        tab(&app).await.contains("Connected to Stripe account"),
        "still connected"
    );
}

#[tokio::test]
async fn an_expired_state_is_refused_without_a_token_exchange() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let authorize = app.start_connect().await;
    let callback = decide(&authorize, "approve", None).await;
    app.clock.advance(600);
    let response = app
        .client
        .get(callback.as_str())
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.expect("body").contains("has expired"));
    assert_eq!(app.emulator().count("POST", "/oauth/token"), 0);
}

#[tokio::test]
async fn a_state_from_another_session_or_business_is_refused() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let authorize = app.start_connect().await;
    let callback = decide(&authorize, "approve", None).await;

    // The same business in another browser.
    let other_browser = app.logged_in_client("owner@acme.test").await;
    let response = other_browser
        .get(callback.as_str())
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("another browser session"));

    // Another business.
    app.create_account("intruder@evil.test", false).await;
    let intruder = app.logged_in_client("intruder@evil.test").await;
    let response = intruder
        .get(callback.as_str())
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.emulator().count("POST", "/oauth/token"), 0);

    // The rightful session still completes (the state was not used up).
    let response = app
        .client
        .get(callback.as_str())
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn missing_and_unknown_states_are_refused() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let missing = app
        .get("/connect/stripe/callback?code=ac_123&scope=read_write")
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(missing
        .text()
        .await
        .expect("body")
        .contains("carried no state"));
    let unknown = app
        .get("/connect/stripe/callback?code=ac_123&state=forged")
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(unknown
        .text()
        .await
        .expect("body")
        .contains("not one we issued"));
    let garbage = app.get("/connect/stripe/callback?%zz=%%&state").await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.emulator().count("POST", "/oauth/token"), 0);

    // Logged out: sent to log in, nothing exchanged.
    let stranger = app.new_client();
    let response = stranger
        .get(app.url("/connect/stripe/callback?code=ac_1&state=x"))
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/login"));
}

#[tokio::test]
async fn denying_shows_stripes_description() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let authorize = app.start_connect().await;
    let callback = decide(&authorize, "deny", None).await;
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("access_denied")
    );
    assert!(callback
        .as_str()
        .contains("error_description=The%20user%20denied%20your%20request"));
    let response = app
        .client
        .get(callback.as_str())
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = tab(&app).await;
    assert!(page.contains("The user denied your request"), "{page}");
    assert!(page.contains("Not connected"));
    assert_eq!(app.emulator().count("POST", "/oauth/token"), 0);
}

#[tokio::test]
async fn an_account_connected_to_another_business_is_refused() {
    let app = TestApp::spawn().await;
    let shared = app.emulator().create_account("Shared Stripe Ltd", true);
    app.logged_in_business("first@acme.test").await;
    assert_eq!(app.connect_stripe(Some(&shared)).await, shared);

    app.create_account("second@acme.test", false).await;
    let second = app.logged_in_client("second@acme.test").await;
    let authorize = app.start_connect_with(&second).await;
    let callback = decide(&authorize, "approve", Some(&shared)).await;
    let response = second
        .get(callback.as_str())
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.expect("body");
    assert!(
        page.contains("already connected to another business"),
        "{page}"
    );
    let second_tab = second
        .get(app.url("/dashboard/connect/"))
        .send()
        .await
        .expect("tab")
        .text()
        .await
        .expect("body");
    assert!(second_tab.contains("Not connected"));
    assert!(tab(&app).await.contains(&format!(
        "Connected to Stripe account <code id=\"account-id\">{shared}</code>"
    )));
}

#[tokio::test]
async fn disconnect_revokes_at_stripe_and_reconnect_is_offered() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let account = app.connect_stripe(None).await;
    let response = app.post_form("/dashboard/connect/disconnect", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = tab(&app).await;
    assert!(page.contains("Disconnected from Stripe."), "{page}");
    assert!(page.contains("Revoked"));
    assert!(page.contains("when you disconnected it here"));
    assert!(page.contains("Reconnect"));
    assert!(!app.emulator().inspect(|m| m.accounts[&account].connected));

    // Reconnecting works and shows the account again.
    let again = app.connect_stripe(Some(&account)).await;
    assert_eq!(again, account);
    assert!(tab(&app).await.contains("Connected to Stripe account"));
}

#[tokio::test]
async fn disconnect_when_stripe_says_already_disconnected_marks_it_revoked() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let account = app.connect_stripe(None).await;
    // Revoked at Stripe without a webhook reaching us.
    let now = app.state.now();
    app.emulator().inspect(|m| m.revoke(&account, now));
    app.post_form("/dashboard/connect/disconnect", &[]).await;
    let page = tab(&app).await;
    assert!(page.contains("already disconnected"), "{page}");
    assert!(page.contains("Revoked"));
}

#[tokio::test]
async fn a_network_failure_on_disconnect_leaves_the_connection_and_says_so() {
    let app = TestApp::builder()
        .with_env("STRIPE_TIMEOUT_SECONDS", "1")
        .spawn()
        .await;
    app.logged_in_business("owner@acme.test").await;
    let account = app.connect_stripe(None).await;
    for _ in 0..3 {
        app.emulator()
            .inject(Fault::on("/oauth/deauthorize", FaultAction::DropConnection));
    }
    app.post_form("/dashboard/connect/disconnect", &[]).await;
    let page = tab(&app).await;
    assert!(page.contains("Could not reach Stripe"), "{page}");
    assert!(page.contains(&format!(
        "Connected to Stripe account <code id=\"account-id\">{account}</code>"
    )));
    assert_eq!(
        app.emulator().count("POST", "/oauth/deauthorize"),
        3,
        "bounded retries"
    );
    assert!(app.emulator().inspect(|m| m.accounts[&account].connected));
}

#[tokio::test]
async fn connect_buttons_need_the_csrf_token() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let response = app
        .client
        .post(app.url("/dashboard/connect/start"))
        .form(&[("csrf_token", "wrong")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .client
        .post(app.url("/dashboard/connect/disconnect"))
        .form(&[("x", "y")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_emulator_shows_authorize_errors_without_redirecting() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let authorize = app.start_connect().await;
    let with = |name: &str, value: &str| {
        let mut url = authorize.clone();
        let pairs: Vec<(String, String)> = authorize
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == name {
                    value.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url
    };
    for (url, error) in [
        (
            with("redirect_uri", "https://evil.test/steal"),
            "invalid_redirect_uri",
        ),
        (with("response_type", "token"), "unsupported_response_type"),
        (with("scope", "everything"), "invalid_scope"),
    ] {
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(url.as_str())
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{error}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"], error);
        assert_eq!(
            body["state"].as_str(),
            query_param(&authorize, "state").as_deref()
        );
    }
}

#[tokio::test]
async fn connecting_again_while_connected_is_refused_until_disconnected() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let account = app.connect_stripe(None).await;
    let response = app.post_form("/dashboard/connect/start", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/dashboard/connect/");
    let page = tab(&app).await;
    assert!(
        page.contains("already connected. Disconnect it first"),
        "{page}"
    );
    assert!(page.contains(&format!(
        "Connected to Stripe account <code id=\"account-id\">{account}</code>"
    )));
}

#[tokio::test]
async fn in_sandbox_mode_the_tab_links_to_the_running_emulators_merchant_dashboard() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let dashboard = app.emulator().dashboard_url();
    let page = tab(&app).await;
    assert!(
        page.contains(&format!("<a href=\"{dashboard}\">{dashboard}</a>")),
        "{page}"
    );
    let served = reqwest::get(&dashboard).await.expect("GET dashboard");
    assert_eq!(served.status(), StatusCode::OK);
    assert!(served
        .text()
        .await
        .expect("body")
        .contains("Stripe sandbox emulator · merchant dashboard"));
}
