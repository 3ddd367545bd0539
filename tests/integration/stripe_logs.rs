//! No secret or token appears in any log line: the logs of a whole Connect session
//! (connect, Stripe failures, disconnect, webhooks good and bad) are captured and
//! searched for every secret involved. And the server's own failures are logged with
//! their whole cause chain, which the answer never shows.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use bridgekeeper::stripe::webhook;
use diesel::RunQueryDsl;
use stripe_emulator::Fault;

use crate::support::stripe::{decide, query_param};
use crate::support::TestApp;

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per test binary) a global subscriber that keeps every line.
fn captured_logs() -> Buffer {
    static LOGS: OnceLock<Buffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Buffer(Arc::new(Mutex::new(Vec::new())));
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_env_filter("bridgekeeper=trace,actix_web=debug,reqwest=debug,info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("no other global subscriber in this test binary");
        buffer
    })
    .clone()
}

fn log_text(logs: &Buffer) -> String {
    String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

#[tokio::test]
async fn an_internal_error_is_logged_with_its_cause_and_line_and_the_page_shows_neither() {
    let logs = captured_logs();
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    // A database that lost a table: the server's own failure. (PostgreSQL drops the
    // foreign key that recorded customers hold on it only when told to.)
    app.raw_database(|conn| {
        let drop = match conn {
            bridgekeeper::db::Backend::Postgres(_) => "DROP TABLE stripe_connections CASCADE",
            bridgekeeper::db::Backend::Sqlite(_) => "DROP TABLE stripe_connections",
        };
        diesel::sql_query(drop).execute(conn).expect("drop a table")
    })
    .await;

    let response = app.get("/dashboard/connect/").await;
    assert_eq!(response.status(), 500);
    let page = response.text().await.expect("page");
    assert!(page.contains("Something went wrong"), "{page}");
    for internal in ["stripe_connections", "src/", "no such", "does not exist"] {
        assert!(
            !page.contains(internal),
            "the page shows {internal:?}: {page}"
        );
    }

    let text = log_text(&logs);
    let line = text
        .lines()
        .find(|line| line.contains("request failed") && line.contains("stripe_connections"))
        .unwrap_or_else(|| panic!("no log line of the failure with its cause:\n{text}"));
    // Where our code met the failure (the `?` in the handler), then the database's words
    // (SQLite: "no such table", PostgreSQL: "relation ... does not exist").
    assert!(
        line.contains("internal error at src/web/pages/connect.rs:"),
        "{line}"
    );
    assert!(
        line.contains("no such table: stripe_connections")
            || line.contains("relation \"stripe_connections\" does not exist"),
        "{line}"
    );
}

#[tokio::test]
async fn no_secret_or_token_appears_in_any_log_line() {
    let logs = captured_logs();
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;

    let authorize = app.start_connect().await;
    let state = query_param(&authorize, "state").expect("state");
    let callback = decide(&authorize, "approve", None).await;
    let code = query_param(&callback, "code").expect("code");
    app.client
        .get(callback.as_str())
        .send()
        .await
        .expect("callback");
    app.client
        .get(callback.as_str())
        .send()
        .await
        .expect("replayed callback");

    // A Stripe failure is logged (without the key), then Disconnect succeeds.
    app.emulator()
        .inject(Fault::status("/oauth/deauthorize", 500, Some(false)));
    app.post_form("/dashboard/connect/disconnect", &[]).await;
    app.post_form("/dashboard/connect/disconnect", &[]).await;

    // Webhooks: one forged, one good.
    let event = app
        .emulator()
        .event("invoice.paid", None, serde_json::json!({"id": "in_1"}));
    let body = serde_json::to_vec(&event).expect("json");
    let forged = webhook::sign(&body, &["whsec_forgedsecret123456"], app.state.now());
    app.post_webhook(&body, &forged).await;
    app.send_event(&event).await;

    let credentials = app
        .state
        .stripe
        .sandbox_credentials()
        .expect("sandbox")
        .clone();
    let mut secrets = vec![
        credentials.secret_key.expose().to_owned(),
        credentials.webhook_secret.clone(),
        "whsec_forgedsecret123456".to_owned(),
        state,
        code,
    ];
    app.emulator().inspect(|m| {
        secrets.extend(m.access_tokens.keys().cloned());
        secrets.extend(m.refresh_tokens.keys().cloned());
    });
    assert!(secrets.len() >= 7, "tokens were issued: {}", secrets.len());

    let text = log_text(&logs);
    assert!(
        text.contains("Stripe request failed"),
        "the failure was logged"
    );
    assert!(text.contains("webhook signature rejected"));
    assert!(text.contains("webhook processed"));
    assert!(
        text.contains("/connect/stripe/callback"),
        "requests are logged"
    );
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret reached the logs: {}…",
            &secret[..8]
        );
    }
}

/// A port on loopback that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[tokio::test]
async fn when_stripe_cannot_be_reached_the_answer_says_so_in_plain_words_and_the_log_has_the_cause()
{
    use bridgekeeper::events::Actor;
    use bridgekeeper::stripe::platform_settings::{self, SettingsForm};

    let logs = captured_logs();
    // A business connected in the sandbox, with a token for the customers API.
    let app = TestApp::spawn().await;
    let (_, client) = crate::oauth::business_with_spa(&app).await;
    app.connect_stripe(None).await;
    let token = crate::oauth::spa_tokens(&app, &client).await.access_token();

    // The same service, restarted with platform keys and a Stripe that cannot be
    // reached: nothing listens on the port STRIPE_API_BASE names.
    platform_settings::save(
        &app.state.db,
        &app.state.secret_box,
        0,
        SettingsForm {
            secret_key: crate::stripe_client::SECRET_KEY.into(),
            publishable_key: "pk_test_platform0000000000".into(),
            connect_client_id: crate::stripe_client::CLIENT_ID.into(),
            new_webhook_secret: "whsec_platformsecret000000".into(),
        },
        Actor::system("test"),
    )
    .await
    .expect("saved");
    let port = closed_port();
    let unreachable = format!("http://127.0.0.1:{port}");
    let outside = TestApp::builder()
        .sharing_database_with(&app)
        .with_env("STRIPE_API_BASE", &unreachable)
        .with_env("STRIPE_CONNECT_BASE", &unreachable)
        .with_env("STRIPE_MAX_RETRIES", "1")
        .spawn()
        .await;
    assert!(!outside.state.sandbox);

    let internal = [
        "tcp connect",
        "dns error",
        "error sending request",
        "client error",
        "os error",
        "Connection refused",
        "127.0.0.1",
        &port.to_string(),
        "reqwest",
        "hyper",
    ];
    let response = reqwest::Client::new()
        .post(outside.url("/api/customers/"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"customer_id": "cus_unreachable1"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"], "stripe_unavailable");
    let message = body["message"].as_str().expect("message");
    assert_eq!(
        message,
        "Stripe could not be reached (after 2 attempts). Try again in a moment."
    );
    for word in internal {
        assert!(
            !message.contains(word),
            "the answer shows {word:?}: {message}"
        );
    }

    // The Connect tab's Disconnect says the same in its words, and keeps the account.
    let page = app
        .client
        .get(outside.url("/dashboard/connect/"))
        .send()
        .await
        .expect("tab")
        .text()
        .await
        .expect("page");
    let csrf = crate::support::csrf_token_in(&page);
    app.client
        .post(outside.url("/dashboard/connect/disconnect"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("POST disconnect");
    let page = app
        .client
        .get(outside.url("/dashboard/connect/"))
        .send()
        .await
        .expect("tab")
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("Could not reach Stripe, so the account is still connected."),
        "{page}"
    );
    for word in internal {
        assert!(!page.contains(word), "the page shows {word:?}");
    }

    // The log has the whole cause.
    let text = log_text(&logs);
    // (The log is shared by this binary's tests: the lines of this port's failures.)
    let address = format!("127.0.0.1:{port}");
    let line = text
        .lines()
        .find(|l| l.contains("a Stripe call for the API failed") && l.contains(&address))
        .unwrap_or_else(|| panic!("no log line of the failed Stripe call:\n{text}"));
    assert!(line.contains("Stripe could not be reached"), "{line}");
    assert!(
        line.contains("Connection refused"),
        "the cause, in the transport's words: {line}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("disconnecting from Stripe failed")
                && l.contains(&address)
                && l.contains("Connection refused")),
        "no log line of the failed disconnect with its cause:\n{text}"
    );
}
