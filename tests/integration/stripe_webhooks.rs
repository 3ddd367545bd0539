//! `POST /webhooks/stripe`: signatures over the raw body with every configured secret,
//! the timestamp tolerance, at-most-once application, out-of-order delivery, and the
//! emulator's dashboard revocation arriving as a webhook.

use bridgekeeper::db::types::UserId;
use bridgekeeper::db::{stripe_webhook_events, DbError};
use bridgekeeper::events::Actor;
use bridgekeeper::stripe::platform_settings::{self, SettingsForm};
use bridgekeeper::stripe::webhook;
use reqwest::StatusCode;
use serde_json::{json, Value};
use stripe_emulator::DeliveryPlan;

use crate::support::TestApp;

async fn tab(app: &TestApp) -> String {
    app.get("/dashboard/connect/")
        .await
        .text()
        .await
        .expect("body")
}

async fn stored_events(app: &TestApp, account: &str) -> Vec<stripe_webhook_events::WebhookEvent> {
    let account = account.to_owned();
    app.state
        .db
        .read(move |conn| {
            Ok::<_, DbError>(stripe_webhook_events::for_account(conn, &account, 100)?)
        })
        .await
        .expect("events")
}

/// A connected business that recorded the customer of an active subscription: the
/// business, its account, the customer and the subscription as Stripe sends it.
async fn recorded_subscriber(app: &TestApp) -> (UserId, String, String, Value) {
    let user_id = app.logged_in_business("owner@acme.test").await.id;
    let account = app.connect_stripe(None).await;
    let (customer, object) = app.emulator().inspect(|m| {
        let acct = &m.accounts[&account];
        let sub = acct
            .subscriptions
            .iter()
            .find(|s| s.status == "active")
            .expect("active")
            .clone();
        (
            sub.customer.clone(),
            acct.subscription_json(&sub, "2026-10-28.endive", false, false),
        )
    });
    app.state
        .customers
        .record(user_id, &customer, None, Actor::system("test"))
        .await
        .expect("recorded");
    (user_id, account, customer, object)
}

fn deauthorized(app: &TestApp, account: &str) -> Value {
    app.emulator().event(
        "account.application.deauthorized",
        Some(account),
        json!({"id": "ca_x", "object": "application", "name": null}),
    )
}

async fn connected_business(app: &TestApp) -> String {
    app.logged_in_business("owner@acme.test").await;
    app.connect_stripe(None).await
}

async fn outcome(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("json");
    body["outcome"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn unsigned_forged_tampered_and_stale_deliveries_are_rejected_and_nothing_is_applied() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    let before = stored_events(&app, &account).await.len();
    let event = deauthorized(&app, &account);
    let body = serde_json::to_vec_pretty(&event).expect("json");
    let secret = app.sandbox_webhook_secret();
    let now = app.state.now();

    let missing = reqwest::Client::new()
        .post(app.url("/webhooks/stripe"))
        .body(body.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);

    for (signature, words) in [
        (
            "garbage".to_owned(),
            "Unable to extract timestamp and signatures from header",
        ),
        (
            format!("t={now},v0=abc"),
            "No signatures found with expected scheme",
        ),
        (
            webhook::sign(&body, &["whsec_not_ours"], now),
            "No signatures found matching the expected signature for payload",
        ),
        (
            webhook::sign(&body, &[&secret], now - 301),
            "Timestamp outside the tolerance zone",
        ),
    ] {
        let response = app.post_webhook(&body, &signature).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{words}");
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["error"], words);
    }
    // Signed, then changed in transit.
    let signature = webhook::sign(&body, &[&secret], now);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(
        app.post_webhook(&tampered, &signature).await.status(),
        StatusCode::BAD_REQUEST
    );

    assert_eq!(
        stored_events(&app, &account).await.len(),
        before,
        "nothing recorded"
    );
    assert!(tab(&app).await.contains("Disconnect"), "still connected");

    // The same body with a good signature inside the tolerance is applied.
    let fresh = webhook::sign(&body, &[&secret], now - 299);
    assert_eq!(
        outcome(app.post_webhook(&body, &fresh).await).await,
        "applied"
    );
    assert!(tab(&app).await.contains("Revoked"));
}

#[tokio::test]
async fn revoking_on_the_emulator_dashboard_arrives_as_a_webhook_and_shows_revoked() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    assert!(app.emulator().revoke_from_dashboard(&account).await);
    let delivery = app.emulator().deliveries().pop().expect("delivered");
    assert_eq!(delivery.event_type, "account.application.deauthorized");
    assert_eq!(delivery.status, Some(200));
    let page = tab(&app).await;
    assert!(page.contains("Revoked"), "{page}");
    assert!(page.contains("from Stripe"));
    assert!(page.contains("Reconnect"));
    let audit = bridgekeeper::audit::recent(&app.state.db, None, 50)
        .await
        .expect("audit");
    assert!(audit.iter().any(|e| e.action == "stripe.deauthorized"));
}

#[tokio::test]
async fn the_authorized_event_of_a_new_connection_is_recorded() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    let events = stored_events(&app, &account).await;
    let authorized = events
        .iter()
        .find(|e| e.event_type == "account.application.authorized")
        .expect("recorded");
    assert_eq!(authorized.outcome, "recorded");
}

#[tokio::test]
async fn every_configured_secret_verifies_during_a_rotation() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    let sandbox_secret = app.sandbox_webhook_secret();
    let rotated = "whsec_rotatedsecret0123456789";
    platform_settings::save(
        &app.state.db,
        &app.state.secret_box,
        app.state.now(),
        SettingsForm {
            secret_key: "sk_test_51platformkey000000000".into(),
            publishable_key: "pk_test_51platformkey000000000".into(),
            connect_client_id: "ca_FkyHCg7X8mlvCUdMDao4mMxagUfhIwXb".into(),
            new_webhook_secret: rotated.into(),
        },
        Actor::system("test"),
    )
    .await
    .expect("saved");

    let emulator = app.emulator();
    // Old and new side by side (one v1 each), only the new one, only the old one.
    for secrets in [
        vec![sandbox_secret.clone(), rotated.to_owned()],
        vec![rotated.to_owned()],
        vec![sandbox_secret.clone()],
    ] {
        emulator.set_webhook_secrets(secrets.clone());
        let event = app.emulator().event(
            "invoice.paid",
            Some(&account),
            json!({"id": "in_1", "object": "invoice"}),
        );
        assert_eq!(emulator.deliver(&event).await, Some(200), "{secrets:?}");
    }
    emulator.set_webhook_secrets(vec!["whsec_retiredlongago000000".into()]);
    let event = app.emulator().event(
        "invoice.paid",
        Some(&account),
        json!({"id": "in_2", "object": "invoice"}),
    );
    assert_eq!(emulator.deliver(&event).await, Some(400));
}

#[tokio::test]
async fn duplicate_deliveries_are_acknowledged_and_applied_once() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    app.emulator().set_delivery(DeliveryPlan {
        duplicate: true,
        ..Default::default()
    });
    assert!(app.emulator().revoke_from_dashboard(&account).await);
    let deliveries: Vec<_> = app
        .emulator()
        .deliveries()
        .into_iter()
        .filter(|d| d.event_type == "account.application.deauthorized")
        .collect();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[0].event_id, deliveries[1].event_id);
    assert!(
        deliveries.iter().all(|d| d.status == Some(200)),
        "both acknowledged"
    );
    let stored: Vec<_> = stored_events(&app, &account)
        .await
        .into_iter()
        .filter(|e| e.event_type == "account.application.deauthorized")
        .collect();
    assert_eq!(stored.len(), 1);
    let audit = bridgekeeper::audit::recent(&app.state.db, None, 100)
        .await
        .expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "stripe.deauthorized")
            .count(),
        1
    );

    // Posting the same event again answers "duplicate".
    let event = app.emulator().event(
        "invoice.paid",
        Some(&account),
        json!({"id": "in_1", "object": "invoice"}),
    );
    assert_eq!(outcome(app.send_event(&event).await).await, "ignored");
    assert_eq!(outcome(app.send_event(&event).await).await, "duplicate");
}

#[tokio::test]
async fn out_of_order_subscription_events_keep_the_newest_state() {
    let app = TestApp::spawn().await;
    let (user_id, account, customer, mut object) = recorded_subscriber(&app).await;
    let emulator = app.emulator();
    emulator.set_delivery(DeliveryPlan {
        hold: true,
        ..Default::default()
    });
    app.clock.advance(10);
    let updated = emulator.event(
        "customer.subscription.updated",
        Some(&account),
        object.clone(),
    );
    emulator.dispatch(updated.clone()).await;
    app.clock.advance(10);
    object["status"] = json!("canceled");
    let deleted = emulator.event("customer.subscription.deleted", Some(&account), object);
    emulator.dispatch(deleted).await;
    assert_eq!(emulator.held().len(), 2);
    // The newer event arrives first; the older one is recorded but changes nothing.
    assert_eq!(
        emulator.release_held(true).await,
        vec![Some(200), Some(200)]
    );
    let document = app
        .state
        .customers
        .get(user_id, &customer)
        .await
        .expect("cached");
    assert_eq!(document.subscriptions[0].status, "canceled");
    let events = stored_events(&app, &account).await;
    let older = events
        .iter()
        .find(|e| e.event_id == updated["id"].as_str().unwrap_or_default())
        .expect("recorded");
    assert_eq!(older.outcome, "recorded");
}

#[tokio::test]
async fn a_deauthorization_older_than_the_connection_does_not_revoke_it() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let account = app.emulator().create_account("Returning Ltd", true);
    let stale = deauthorized(&app, &account);
    app.clock.advance(5);
    app.connect_stripe(Some(&account)).await;
    assert_eq!(outcome(app.send_event(&stale).await).await, "stale");
    assert!(tab(&app).await.contains("Disconnect"), "still connected");
}

#[tokio::test]
async fn unknown_event_types_are_acknowledged_and_ignored() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    let event = app.emulator().event(
        "payout.paid",
        Some(&account),
        json!({"id": "po_1", "object": "payout", "amount": 100}),
    );
    let response = app.send_event(&event).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outcome(response).await, "ignored");
    let stored = stored_events(&app, &account).await;
    let ignored = stored
        .iter()
        .find(|e| e.event_type == "payout.paid")
        .expect("recorded");
    assert_eq!(
        ignored.object_json, "{}",
        "nothing kept from unknown events"
    );
    let not_json = webhook::sign(
        b"not json",
        &[&app.sandbox_webhook_secret()],
        app.state.now(),
    );
    assert_eq!(
        app.post_webhook(b"not json", &not_json).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn events_of_the_other_mode_are_acknowledged_and_ignored() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    let mut event = deauthorized(&app, &account);
    event["livemode"] = json!(true);
    assert_eq!(outcome(app.send_event(&event).await).await, "ignored");
    assert!(
        tab(&app).await.contains("Disconnect"),
        "a live event does not touch a test connection"
    );
}

#[tokio::test]
async fn cancelling_on_the_emulator_dashboard_sends_a_signed_subscription_event() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    let sub = app.emulator().inspect(|m| {
        m.accounts[&account]
            .subscriptions
            .iter()
            .find(|s| s.status == "active")
            .map(|s| s.id.clone())
            .expect("active")
    });
    // The person's browser opens the dashboard (its forms carry the CSRF token of
    // this browser's emulator session), then clicks Cancel.
    let browser = app.new_client();
    let dashboard = browser
        .get(app.emulator().dashboard_url())
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("dashboard");
    let token = crate::support::csrf_token_in(&dashboard);
    let page = browser
        .post(format!(
            "{}accounts/{account}/subscriptions/{sub}/cancel",
            app.emulator().dashboard_url() + "/"
        ))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("POST")
        .text()
        .await
        .expect("body");
    assert!(
        page.contains("customer.subscription.deleted was sent"),
        "{page}"
    );
    let events = stored_events(&app, &account).await;
    let received = events
        .iter()
        .find(|e| e.event_type == "customer.subscription.deleted")
        .expect("the event arrived and was recorded");
    let object: Value = serde_json::from_str(&received.object_json).expect("json");
    assert_eq!(object["id"], sub.as_str());
    assert_eq!(object["status"], "canceled");
    assert!(
        object["items"]["data"][0]["current_period_end"].is_i64(),
        "rendered in the account's (basil or later) version"
    );
}

#[tokio::test]
async fn delayed_deliveries_arrive_later() {
    let app = TestApp::spawn().await;
    let account = connected_business(&app).await;
    app.emulator().set_delivery(DeliveryPlan {
        delay: Some(std::time::Duration::from_millis(300)),
        ..Default::default()
    });
    assert!(app.emulator().revoke_from_dashboard(&account).await);
    assert!(tab(&app).await.contains("Disconnect"), "not arrived yet");
    let mut revoked = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if tab(&app).await.contains("Revoked") {
            revoked = true;
            break;
        }
    }
    assert!(revoked, "the delayed webhook arrived and was applied");
}

#[tokio::test]
async fn an_event_whose_effects_cannot_be_applied_is_not_recorded_so_stripe_sends_it_again() {
    let app = TestApp::spawn().await;
    let (_, account, _, object) = recorded_subscriber(&app).await;
    // The cache cannot be written: applying the event fails.
    app.raw_database(|conn| {
        diesel::connection::SimpleConnection::batch_execute(
            conn,
            "DROP TABLE customer_subscriptions",
        )
        .expect("drop the cache's table")
    })
    .await;
    app.clock.advance(10);
    let event = app
        .emulator()
        .event("customer.subscription.updated", Some(&account), object);

    let response = app.send_event(&event).await;
    assert_eq!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "a failure Stripe retries"
    );
    let event_id = event["id"].as_str().unwrap_or_default();
    assert!(
        stored_events(&app, &account)
            .await
            .iter()
            .all(|e| e.event_id != event_id),
        "not recorded, so the redelivery is not taken for a duplicate"
    );
}
