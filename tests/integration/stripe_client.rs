//! The Stripe client against the emulator over loopback: Stripe's shapes in both API
//! versions, pagination and expansion, typed errors with Request-Id, bounded retries,
//! idempotency keys, and the Connect OAuth rules.

use std::sync::Arc;
use std::time::Duration;

use bridgekeeper::clock::ManualClock;
use bridgekeeper::stripe::platform_settings::SecretKey;
use bridgekeeper::stripe::{ClientConfig, ListSubscriptions, StripeClient, StripeErrorKind};
use serde_json::Value;
use stripe_emulator::{EmulatorConfig, EmulatorHandle, Fault, FaultAction};

pub const SECRET_KEY: &str = "sk_test_emulatorplatformkey0123456789";
pub const CLIENT_ID: &str = "ca_FkyHCg7X8mlvCUdMDao4mMxagUfhIwXb";

pub struct Loopback {
    pub emulator: EmulatorHandle,
    pub clock: ManualClock,
}

impl Loopback {
    pub fn start() -> Loopback {
        let clock = ManualClock::starting_now();
        let emulator = stripe_emulator::spawn(EmulatorConfig {
            bind: "127.0.0.1:0".parse().expect("address"),
            secret_key: SECRET_KEY.into(),
            connect_client_id: CLIENT_ID.into(),
            webhook_secrets: Vec::new(),
            webhook_url: None,
            redirect_uris: Vec::new(),
            clock: Arc::new(clock.clone()),
        })
        .expect("emulator starts");
        Loopback { emulator, clock }
    }

    pub fn client(&self, version: &str) -> StripeClient {
        self.client_with(version, SECRET_KEY)
    }

    pub fn client_with(&self, version: &str, key: &str) -> StripeClient {
        let base = self.emulator.base_url().clone();
        let mut config = ClientConfig::new(
            base.clone(),
            base,
            version,
            SecretKey::parse(key).expect("key"),
            CLIENT_ID,
        );
        config.timeout = Duration::from_millis(700);
        config.max_retries = 2;
        config.initial_backoff = Duration::from_millis(10);
        config.max_backoff = Duration::from_millis(40);
        StripeClient::new(config).expect("client")
    }

    /// The seeded account that has a portal configuration.
    pub fn demo_account(&self) -> String {
        self.emulator.inspect(|m| {
            m.accounts
                .values()
                .find(|a| a.has_portal_config)
                .map(|a| a.id.clone())
                .expect("seeded")
        })
    }

    pub fn no_portal_account(&self) -> String {
        self.emulator.inspect(|m| {
            m.accounts
                .values()
                .find(|a| !a.has_portal_config)
                .map(|a| a.id.clone())
                .expect("seeded")
        })
    }

    pub fn customer(&self, account: &str, name: &str) -> String {
        self.emulator.inspect(|m| {
            m.accounts[account]
                .customers
                .iter()
                .find(|c| c.name.starts_with(name))
                .map(|c| c.id.clone())
                .expect("seeded customer")
        })
    }

    /// Connects `account` through the real code exchange.
    pub async fn connect(&self, client: &StripeClient, account: &str) {
        let code = self.emulator.approve(account);
        let token = client.exchange_code(&code).await.expect("code exchanged");
        assert_eq!(token.stripe_user_id, account);
    }
}

#[tokio::test]
async fn code_exchange_returns_the_connected_account_and_tokens() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();
    let code = stripe.emulator.approve(&account);
    assert!(code.starts_with("ac_") && code.len() == 35, "{code}");
    let token = client.exchange_code(&code).await.expect("exchanged");
    assert_eq!(token.stripe_user_id, account);
    assert_eq!(token.scope.as_deref(), Some("read_write"));
    assert!(!token.livemode);
    assert!(token
        .access_token
        .as_deref()
        .is_some_and(|t| t.starts_with("sk_test_")));
    assert!(token
        .refresh_token
        .as_deref()
        .is_some_and(|t| t.starts_with("rt_")));
    assert!(token
        .stripe_publishable_key
        .as_deref()
        .is_some_and(|t| t.starts_with("pk_test_")));

    let request = stripe.emulator.requests().pop().expect("recorded");
    assert_eq!(request.path, "/oauth/token");
    assert!(request.authorized, "the platform key is sent");
    assert_eq!(request.stripe_version.as_deref(), Some("2026-10-28.endive"));
    assert!(request.idempotency_key.is_some(), "every POST has a key");
}

#[tokio::test]
async fn a_code_presented_twice_revokes_the_connection_and_is_never_retried() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();
    let code = stripe.emulator.approve(&account);
    client.exchange_code(&code).await.expect("first use");
    let customer = stripe.customer(&account, "Alice");
    client
        .retrieve_customer(&account, &customer)
        .await
        .expect("access works");

    let replay = client
        .exchange_code(&code)
        .await
        .expect_err("replay refused");
    assert_eq!(replay.kind, StripeErrorKind::OAuth);
    assert_eq!(replay.status, Some(400));
    assert_eq!(replay.code.as_deref(), Some("invalid_grant"));
    assert_eq!(
        replay.message,
        "This authorization code has already been used. All tokens issued with this code have been revoked."
    );
    let denied = client
        .retrieve_customer(&account, &customer)
        .await
        .expect_err("access revoked");
    assert_eq!(denied.status, Some(403));
    assert!(
        denied.message.contains("does not have access to account"),
        "{}",
        denied.message
    );
    assert!(denied
        .message
        .contains("Application access may have been revoked"));

    // A failing exchange is not retried even when Stripe says it may be.
    let code = stripe.emulator.approve(&account);
    stripe
        .emulator
        .inject(Fault::status("/oauth/token", 500, Some(true)));
    let before = stripe.emulator.count("POST", "/oauth/token");
    let error = client.exchange_code(&code).await.expect_err("500");
    assert_eq!(error.status, Some(500));
    assert_eq!(error.attempts, 1);
    assert_eq!(stripe.emulator.count("POST", "/oauth/token"), before + 1);
}

#[tokio::test]
async fn codes_expire_after_five_minutes_and_unknown_codes_are_refused() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let code = stripe.emulator.approve(&stripe.demo_account());
    stripe.clock.advance(300);
    let expired = client.exchange_code(&code).await.expect_err("expired");
    assert_eq!(expired.code.as_deref(), Some("invalid_grant"));
    assert_eq!(
        expired.message,
        format!("Authorization code expired: {code}")
    );

    let unknown = client
        .exchange_code("ac_doesnotexist")
        .await
        .expect_err("unknown");
    assert_eq!(
        unknown.message,
        "Authorization code does not exist: ac_doesnotexist"
    );

    let wrong_key = stripe.client_with("2026-10-28.endive", "sk_test_someotherplatform1234");
    let refused = wrong_key
        .exchange_code(&stripe.emulator.approve(&stripe.demo_account()))
        .await
        .expect_err("other key");
    assert_eq!(refused.status, Some(401));
    assert_eq!(refused.code.as_deref(), Some("invalid_client"));
}

#[tokio::test]
async fn subscriptions_parse_in_both_shapes_with_the_same_periods() {
    let stripe = Loopback::start();
    let new = stripe.client("2026-10-28.endive");
    let old = stripe.client("2024-06-20");
    let account = stripe.demo_account();
    stripe.connect(&new, &account).await;
    let query = ListSubscriptions {
        status: Some("all".into()),
        ..Default::default()
    };
    let current = new
        .list_subscriptions(&account, &query)
        .await
        .expect("list");
    let legacy = old
        .list_subscriptions(&account, &query)
        .await
        .expect("list");
    assert_eq!(current.len(), 6);
    assert_eq!(legacy.len(), 6);
    for (a, b) in current.iter().zip(&legacy) {
        assert_eq!(a.id, b.id);
        // basil and later: periods on items only; before: on the subscription only.
        assert!(a.current_period_end.is_none());
        assert!(a.items.data[0].current_period_end.is_some());
        assert!(b.current_period_end.is_some());
        assert!(b.items.data[0].current_period_end.is_none());
        assert_eq!(a.current_period_end(), b.current_period_end());
        assert_eq!(a.next_renewal(), b.next_renewal());
    }
    // The raw shape as the emulator sends it, to be sure the client is not guessing.
    let raw = stripe.emulator.inspect(|m| {
        m.requests
            .iter()
            .filter(|r| r.path == "/v1/subscriptions")
            .count()
    });
    assert!(raw >= 2);
}

#[tokio::test]
async fn listing_defaults_filters_paginates_and_expands() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();
    stripe.connect(&client, &account).await;

    let default = client
        .list_subscriptions(&account, &ListSubscriptions::default())
        .await
        .expect("list");
    let statuses: Vec<&str> = default.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(default.len(), 4, "{statuses:?}");
    assert!(
        !statuses.contains(&"canceled"),
        "canceled excluded by default"
    );
    let created: Vec<i64> = default.iter().map(|s| s.created).collect();
    let mut sorted = created.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted, "newest first");

    let before = stripe.emulator.count("GET", "/v1/subscriptions");
    let paged = client
        .list_subscriptions(
            &account,
            &ListSubscriptions {
                status: Some("all".into()),
                limit: Some(2),
                ..Default::default()
            },
        )
        .await
        .expect("paged");
    assert_eq!(paged.len(), 6);
    assert_eq!(
        stripe.emulator.count("GET", "/v1/subscriptions") - before,
        3
    );
    let page = client
        .list_subscriptions_page(
            &account,
            &ListSubscriptions {
                status: Some("all".into()),
                limit: Some(2),
                starting_after: Some(paged[3].id.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("page");
    assert_eq!(
        page.data.iter().map(|s| &s.id).collect::<Vec<_>>(),
        [&paged[4].id, &paged[5].id]
    );
    assert!(!page.has_more);
    assert_eq!(page.url, "/v1/subscriptions");

    let alice = stripe.customer(&account, "Alice");
    let expanded = client
        .list_subscriptions(
            &account,
            &ListSubscriptions {
                customer: Some(alice.clone()),
                expand: vec!["data.items.data.price.product".into()],
                ..Default::default()
            },
        )
        .await
        .expect("expanded");
    assert_eq!(expanded.len(), 1);
    assert_eq!(expanded[0].customer.id(), alice);
    let product = expanded[0].items.data[0]
        .price
        .product
        .object()
        .expect("expanded product");
    assert_eq!(product.name.as_deref(), Some("Pro plan"));
    let last = stripe.emulator.requests().pop().expect("recorded");
    assert!(
        last.query
            .contains("expand%5B%5D=data.items.data.price.product"),
        "{}",
        last.query
    );
    assert_eq!(last.stripe_account.as_deref(), Some(account.as_str()));

    let trialing = client
        .list_subscriptions(
            &account,
            &ListSubscriptions {
                status: Some("trialing".into()),
                ..Default::default()
            },
        )
        .await
        .expect("trialing");
    assert_eq!(trialing.len(), 1);
    assert_eq!(trialing[0].next_renewal(), trialing[0].trial_end);
}

#[tokio::test]
async fn customers_deleted_stubs_and_typed_errors_with_request_ids() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();
    stripe.connect(&client, &account).await;

    let alice = client
        .retrieve_customer(&account, &stripe.customer(&account, "Alice"))
        .await
        .expect("customer");
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert!(!alice.deleted);
    let frank = client
        .retrieve_customer(&account, &stripe.customer(&account, "Frank"))
        .await
        .expect("deleted stub");
    assert!(frank.deleted);

    let missing = client
        .retrieve_customer(&account, "cus_nope")
        .await
        .expect_err("404");
    assert_eq!(missing.kind, StripeErrorKind::Api);
    assert_eq!(missing.status, Some(404));
    assert_eq!(missing.code.as_deref(), Some("resource_missing"));
    assert_eq!(missing.param.as_deref(), Some("id"));
    assert_eq!(missing.error_type.as_deref(), Some("invalid_request_error"));
    assert_eq!(missing.message, "No such customer: 'cus_nope'");
    let logged = stripe.emulator.requests().pop().expect("recorded");
    assert_eq!(
        missing.request_id.as_deref(),
        Some(logged.request_id.as_str())
    );
    assert!(logged.request_id.starts_with("req_"));
    assert_eq!(missing.attempts, 1, "404 is never retried");

    let unconnected = stripe.no_portal_account();
    let forbidden = client
        .retrieve_customer(&unconnected, "cus_x")
        .await
        .expect_err("not connected");
    assert_eq!(forbidden.status, Some(403));
}

#[tokio::test]
async fn billing_portal_sessions_and_the_missing_configuration_error() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();
    stripe.connect(&client, &account).await;
    let alice = stripe.customer(&account, "Alice");
    let session = client
        .create_billing_portal_session(&account, &alice, Some("https://shop.test/account"))
        .await
        .expect("session");
    assert!(session.id.starts_with("bps_"));
    assert_eq!(session.customer, alice);
    assert!(session.url.contains("/p/session/test_"), "{}", session.url);
    let portal = reqwest::get(&session.url)
        .await
        .expect("portal")
        .text()
        .await
        .expect("body");
    assert!(portal.contains("alice@example.com"));

    let other = stripe.no_portal_account();
    stripe.connect(&client, &other).await;
    let customer = stripe.customer(&other, "Alice");
    let error = client
        .create_billing_portal_session(&other, &customer, None)
        .await
        .expect_err("no configuration");
    assert_eq!(error.status, Some(400));
    assert_eq!(
        error.message,
        "You can\u{2019}t create a portal session in test mode until you save your customer portal settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal."
    );
    let unknown = client
        .create_billing_portal_session(&account, "cus_nope", None)
        .await
        .expect_err("unknown customer");
    assert_eq!(unknown.param.as_deref(), Some("customer"));
    assert_eq!(unknown.code.as_deref(), Some("resource_missing"));
}

#[tokio::test]
async fn retryable_faults_are_retried_a_bounded_number_of_times_with_one_idempotency_key() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();
    stripe.connect(&client, &account).await;
    let alice = stripe.customer(&account, "Alice");
    let path = "/v1/billing_portal/sessions";

    // 500 with Stripe-Should-Retry: true, then a dropped connection, then success.
    stripe.emulator.inject(Fault::status(path, 500, Some(true)));
    stripe
        .emulator
        .inject(Fault::on(path, FaultAction::DropConnection));
    client
        .create_billing_portal_session(&account, &alice, None)
        .await
        .expect("third attempt succeeds");
    let attempts: Vec<_> = stripe
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect();
    assert_eq!(attempts.len(), 3);
    let key = attempts[0].idempotency_key.clone().expect("key");
    assert!(attempts
        .iter()
        .all(|r| r.idempotency_key.as_deref() == Some(key.as_str())));

    // Three failures exhaust max_retries = 2: a clear error naming the attempts.
    for _ in 0..3 {
        stripe.emulator.inject(Fault::status(path, 503, None));
    }
    stripe.emulator.inject(Fault::status(path, 503, None));
    let error = client
        .create_billing_portal_session(&account, &alice, None)
        .await
        .expect_err("gives up");
    assert_eq!(error.status, Some(503));
    assert_eq!(error.attempts, 3);
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
}

#[tokio::test]
async fn non_retryable_answers_are_not_retried() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();
    stripe.connect(&client, &account).await;
    let path = "/v1/subscriptions";
    let query = ListSubscriptions::default();
    let list = || client.list_subscriptions_page(&account, &query);

    stripe
        .emulator
        .inject(Fault::status(path, 500, Some(false)));
    assert_eq!(
        list().await.expect_err("500").attempts,
        1,
        "Should-Retry: false"
    );

    stripe.emulator.inject(Fault::status(path, 429, None));
    let limited = list().await.expect_err("429");
    assert_eq!(limited.attempts, 1, "plain rate limits are not retried");
    assert_eq!(limited.code.as_deref(), Some("rate_limit"));

    stripe.emulator.inject(Fault::status(path, 429, Some(true)));
    assert!(
        list().await.is_ok(),
        "429 with Should-Retry: true is retried"
    );

    stripe.emulator.inject(Fault::on(
        path,
        FaultAction::Status {
            status: 429,
            code: Some("lock_timeout".into()),
            should_retry: None,
        },
    ));
    assert!(list().await.is_ok(), "lock_timeout is retried");

    stripe.emulator.inject(Fault::on(
        path,
        FaultAction::Status {
            status: 409,
            code: Some("idempotency_key_in_use".into()),
            should_retry: None,
        },
    ));
    assert!(list().await.is_ok(), "409 is retried");
}

#[tokio::test]
async fn timeouts_are_retried_then_reported_as_timeouts() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();
    stripe.connect(&client, &account).await;
    let customer = stripe.customer(&account, "Alice");
    for _ in 0..3 {
        stripe.emulator.inject(Fault::on(
            "/v1/customers/",
            FaultAction::Delay(Duration::from_millis(1500)),
        ));
    }
    let error = client
        .retrieve_customer(&account, &customer)
        .await
        .expect_err("times out");
    assert_eq!(error.kind, StripeErrorKind::Timeout);
    assert_eq!(error.attempts, 3);
    assert!(error.is_network());
}

#[tokio::test]
async fn deauthorize_then_again_reports_not_connected() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();
    stripe.connect(&client, &account).await;
    let done = client.deauthorize(&account).await.expect("revoked");
    assert_eq!(done.stripe_user_id, account);
    let again = client.deauthorize(&account).await.expect_err("already");
    assert_eq!(again.status, Some(401));
    assert!(again.is_not_connected(), "{again}");
    assert_eq!(
        again.message,
        format!("This application is not connected to stripe account {account}, or that account does not exist.")
    );
}

#[tokio::test]
async fn the_emulator_answers_raw_requests_as_stripe_does() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();
    stripe.connect(&client, &account).await;
    let base = stripe
        .emulator
        .base_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let http = reqwest::Client::new();

    let anonymous = http
        .get(format!("{base}/v1/subscriptions"))
        .send()
        .await
        .expect("GET");
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().get("request-id").is_some());
    let body: Value = anonymous.json().await.expect("json");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("You did not provide an API key."));

    let bad_key = http
        .get(format!("{base}/v1/subscriptions"))
        .bearer_auth("sk_test_wrongwrongwrong1234")
        .send()
        .await
        .expect("GET");
    assert_eq!(bad_key.status(), 401);
    let body: Value = bad_key.json().await.expect("json");
    assert_eq!(
        body["error"]["message"],
        "Invalid API Key provided: sk_test_***************1234"
    );

    let unknown = http
        .get(format!("{base}/v1/subscriptions?foo=1&bar=2"))
        .bearer_auth(SECRET_KEY)
        .header("Stripe-Account", &account)
        .send()
        .await
        .expect("GET");
    assert_eq!(unknown.status(), 400);
    let body: Value = unknown.json().await.expect("json");
    assert_eq!(body["error"]["code"], "parameter_unknown");
    assert_eq!(body["error"]["param"], "foo");
    assert_eq!(
        body["error"]["message"],
        "Received unknown parameters: foo, bar"
    );

    // Idempotency: the same key and parameters replay; other parameters are refused.
    let alice = stripe.customer(&account, "Alice");
    let post = |customer: String| {
        http.post(format!("{base}/v1/billing_portal/sessions"))
            .bearer_auth(SECRET_KEY)
            .header("Stripe-Account", &account)
            .header("Idempotency-Key", "key-1")
            .form(&[("customer", customer)])
            .send()
    };
    let first = post(alice.clone()).await.expect("first");
    assert_eq!(first.status(), 200);
    let first_body: Value = first.json().await.expect("json");
    let replay = post(alice.clone()).await.expect("replay");
    assert_eq!(
        replay
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let replay_body: Value = replay.json().await.expect("json");
    assert_eq!(first_body["id"], replay_body["id"]);
    // Keys can be pruned once 24 hours old: the same key then starts a new request.
    stripe.clock.advance(86_400);
    let fresh: Value = post(alice.clone())
        .await
        .expect("after a day")
        .json()
        .await
        .expect("json");
    assert_ne!(fresh["id"], first_body["id"]);
    let conflict = post(stripe.customer(&account, "Bob"))
        .await
        .expect("conflict");
    assert_eq!(conflict.status(), 400);
    let body: Value = conflict.json().await.expect("json");
    assert_eq!(body["error"]["type"], "idempotency_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("'key-1'"));
}
