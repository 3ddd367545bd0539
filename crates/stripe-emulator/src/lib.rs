//! The sandbox: a Stripe emulator that speaks Stripe's wire format on loopback.
//!
//! bridgekeeper starts it in sandbox mode (no platform key configured); `bridgekeeper
//! stripe-emulator` runs it as a process of its own ([`cli`]). It knows nothing of
//! bridgekeeper: what both must agree on (form encoding, webhook signatures) comes from
//! `stripe-wire`, and time from `clock`.
//!
//! One server plays both of Stripe's hosts: the Connect host (`/oauth/authorize`,
//! `/oauth/token`, `/oauth/deauthorize`) and the API host (`/v1/...`). It also serves a
//! merchant "dashboard" (`/dashboard`) where access can be revoked, which sends a signed
//! `account.application.deauthorized` webhook to the configured URL. Its pages for people
//! carry a CSRF token in every form and the service's security headers ([`pages`]); the
//! API routes answer in Stripe's format only.
//!
//! [`EmulatorHandle`] is the control surface tests use: the request log, fault
//! injection (status codes with `Stripe-Should-Retry`, delays, dropped connections), and
//! webhook delivery plans (duplicate, hold and release in reverse order, delay).

pub mod cli;
mod model;
pub mod pages;
mod server;

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use serde_json::Value;
use url::Url;

use clock::SharedClock;
use stripe_wire::webhook;

pub use model::{
    new_id, periods_on_items, Account, Customer, Model, RecordedRequest, Subscription, BASIL,
    CODE_TTL_SECONDS,
};

#[derive(Clone)]
pub struct EmulatorConfig {
    pub bind: SocketAddr,
    /// The platform's secret key the emulator accepts.
    pub secret_key: String,
    pub connect_client_id: String,
    /// Secrets webhooks are signed with (one `v1` each).
    pub webhook_secrets: Vec<String>,
    /// Where webhooks go (the service's `/webhooks/stripe`); `None` sends none.
    pub webhook_url: Option<Url>,
    /// Redirect URIs registered for the platform; empty accepts any http(s) URI.
    pub redirect_uris: Vec<String>,
    pub clock: SharedClock,
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("bind", &self.bind)
            .field("connect_client_id", &self.connect_client_id)
            .field("webhook_url", &self.webhook_url.as_ref().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

/// What an injected fault does to the next matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this status and Stripe's error envelope, before doing anything.
    Status {
        status: u16,
        code: Option<String>,
        should_retry: Option<bool>,
    },
    /// Wait, then handle the request normally (longer than the client's timeout: a timeout).
    Delay(Duration),
    /// Start a response and drop the connection.
    DropConnection,
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<String>,
    /// Matches request paths starting with this.
    pub path_prefix: String,
    pub action: FaultAction,
}

impl Fault {
    pub fn on(path_prefix: &str, action: FaultAction) -> Self {
        Self {
            method: None,
            path_prefix: path_prefix.to_owned(),
            action,
        }
    }

    pub fn status(path_prefix: &str, status: u16, should_retry: Option<bool>) -> Self {
        Self::on(
            path_prefix,
            FaultAction::Status {
                status,
                code: (status == 429).then(|| "rate_limit".to_owned()),
                should_retry,
            },
        )
    }
}

/// How the emulator delivers the webhooks it generates.
#[derive(Debug, Clone, Default)]
pub struct DeliveryPlan {
    /// Send each event twice.
    pub duplicate: bool,
    /// Keep events until [`EmulatorHandle::release_held`].
    pub hold: bool,
    /// Wait this long before sending (in the background).
    pub delay: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub status: Option<u16>,
    pub error: Option<String>,
}

struct Control {
    faults: VecDeque<Fault>,
    plan: DeliveryPlan,
    held: Vec<Value>,
    deliveries: Vec<Delivery>,
    webhook_secrets: Vec<String>,
    webhook_url: Option<Url>,
}

struct Shared {
    model: Mutex<Model>,
    control: Mutex<Control>,
    /// Browser sessions of the pages, and their CSRF tokens.
    pages: Mutex<pages::Sessions>,
    clock: SharedClock,
    connect_client_id: String,
    redirect_uris: Vec<String>,
    http: reqwest::Client,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn model<R>(&self, f: impl FnOnce(&mut Model) -> R) -> R {
        f(&mut lock(&self.model))
    }

    fn control<R>(&self, f: impl FnOnce(&mut Control) -> R) -> R {
        f(&mut lock(&self.control))
    }

    fn pages<R>(&self, f: impl FnOnce(&mut pages::Sessions) -> R) -> R {
        f(&mut lock(&self.pages))
    }

    fn redirect_uris(&self) -> Vec<String> {
        self.redirect_uris.clone()
    }

    fn take_fault(&self, method: &str, path: &str) -> Option<FaultAction> {
        self.control(|c| {
            let index = c.faults.iter().position(|f| {
                path.starts_with(&f.path_prefix) && f.method.as_deref().is_none_or(|m| m == method)
            })?;
            c.faults.remove(index).map(|f| f.action)
        })
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.control(|c| c.deliveries.clone())
    }

    /// Delivers per the plan: held, delayed in the background, or now (twice when
    /// duplicating).
    async fn dispatch(self: &Arc<Self>, event: Value) {
        let plan = self.control(|c| {
            if c.plan.hold {
                c.held.push(event.clone());
            }
            c.plan.clone()
        });
        if plan.hold {
            return;
        }
        let times = if plan.duplicate { 2 } else { 1 };
        if let Some(delay) = plan.delay {
            let shared = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                for _ in 0..times {
                    shared.deliver(&event).await;
                }
            });
        } else {
            for _ in 0..times {
                self.deliver(&event).await;
            }
        }
    }

    /// One delivery attempt: pretty-printed JSON, freshly signed with every secret.
    async fn deliver(&self, event: &Value) -> Option<u16> {
        let (url, secrets) = self.control(|c| (c.webhook_url.clone(), c.webhook_secrets.clone()));
        let url = url?;
        let body = serde_json::to_vec_pretty(event).unwrap_or_default();
        let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let signature = webhook::sign(&body, &secret_refs, self.clock.now());
        let result = self
            .http
            .post(url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header(
                "User-Agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .header("Stripe-Signature", signature)
            .body(body)
            .send()
            .await;
        let (status, error) = match result {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let event_id = event["id"].as_str().unwrap_or_default().to_owned();
        let event_type = event["type"].as_str().unwrap_or_default().to_owned();
        tracing::info!(%event_id, %event_type, status, "sandbox webhook delivered");
        self.control(|c| {
            c.deliveries.push(Delivery {
                event_id,
                event_type,
                status,
                error,
            })
        });
        status
    }
}

/// A running emulator. Clones control the same one.
#[derive(Clone)]
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    base_url: Url,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("base_url", &self.base_url.as_str())
            .finish()
    }
}

/// Starts the emulator on `config.bind` (port 0 picks a free port) on the current
/// Tokio runtime and returns once it listens.
pub fn spawn(config: EmulatorConfig) -> std::io::Result<EmulatorHandle> {
    let listener = TcpListener::bind(config.bind)?;
    let address = listener.local_addr()?;
    let base_url = Url::parse(&format!("http://{address}"))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let now = config.clock.now();
    let mut model = Model::new(&config.secret_key, &config.connect_client_id, now);
    model.base_url = base_url.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(std::io::Error::other)?;
    let shared = Arc::new(Shared {
        model: Mutex::new(model),
        control: Mutex::new(Control {
            faults: VecDeque::new(),
            plan: DeliveryPlan::default(),
            held: Vec::new(),
            deliveries: Vec::new(),
            webhook_secrets: config.webhook_secrets.clone(),
            webhook_url: config.webhook_url.clone(),
        }),
        pages: Mutex::new(pages::Sessions::default()),
        clock: config.clock.clone(),
        connect_client_id: config.connect_client_id.clone(),
        redirect_uris: config.redirect_uris.clone(),
        http,
    });
    let data = web::Data::new(Arc::clone(&shared));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(1024 * 1024))
            .default_service(web::to(server::entry))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    tokio::spawn(server);
    tracing::info!(%base_url, "sandbox Stripe emulator listening");
    Ok(EmulatorHandle { shared, base_url })
}

impl EmulatorHandle {
    /// Base URL of both hosts (Connect OAuth under `/oauth/`, the API under `/v1/`).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    pub fn dashboard_url(&self) -> String {
        format!("{}dashboard", self.base_url)
    }

    /// Reads or changes the emulator's data (accounts, customers, codes, …).
    pub fn inspect<R>(&self, f: impl FnOnce(&mut Model) -> R) -> R {
        self.shared.model(f)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inspect(|m| m.requests.clone())
    }

    /// How many requests reached `method path` (query strings ignored).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.inspect(|m| {
            m.requests
                .iter()
                .filter(|r| r.method == method && r.path == path)
                .count()
        })
    }

    /// Queues a fault for the next request that matches it (each fault fires once).
    pub fn inject(&self, fault: Fault) {
        self.shared.control(|c| c.faults.push_back(fault));
    }

    pub fn set_delivery(&self, plan: DeliveryPlan) {
        self.shared.control(|c| c.plan = plan);
    }

    pub fn set_webhook_secrets(&self, secrets: Vec<String>) {
        self.shared.control(|c| c.webhook_secrets = secrets);
    }

    pub fn set_webhook_url(&self, url: Option<Url>) {
        self.shared.control(|c| c.webhook_url = url);
    }

    /// Delivers the held events, in the order they were made or reversed.
    pub async fn release_held(&self, reverse: bool) -> Vec<Option<u16>> {
        let mut held = self.shared.control(|c| std::mem::take(&mut c.held));
        if reverse {
            held.reverse();
        }
        let mut statuses = Vec::new();
        for event in held {
            statuses.push(self.shared.deliver(&event).await);
        }
        statuses
    }

    pub fn held(&self) -> Vec<Value> {
        self.shared.control(|c| c.held.clone())
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries()
    }

    /// Builds an event for `account` (in the account's API version).
    pub fn event(&self, event_type: &str, account: Option<&str>, object: Value) -> Value {
        let now = self.shared.clock.now();
        self.inspect(|m| server::event(m, event_type, account, object, now))
    }

    /// Sends one event now, signed, regardless of the plan; returns the HTTP status.
    pub async fn deliver(&self, event: &Value) -> Option<u16> {
        self.shared.deliver(event).await
    }

    /// Sends an event according to the delivery plan.
    pub async fn dispatch(&self, event: Value) {
        self.shared.dispatch(event).await;
    }

    /// What the dashboard's "Revoke access" button does.
    pub async fn revoke_from_dashboard(&self, account: &str) -> bool {
        let now = self.shared.clock.now();
        let event = self.inspect(|m| {
            m.revoke(account, now).then(|| {
                server::event(
                    m,
                    "account.application.deauthorized",
                    Some(account),
                    serde_json::json!({"id": m.connect_client_id, "object": "application", "name": "bridgekeeper (sandbox platform)"}),
                    now,
                )
            })
        });
        match event {
            Some(event) => {
                self.shared.dispatch(event).await;
                true
            }
            None => false,
        }
    }

    /// Issues an authorization code for `account` as if its owner approved.
    pub fn approve(&self, account: &str) -> String {
        let now = self.shared.clock.now();
        self.inspect(|m| m.issue_code(account, "read_write", now))
    }

    /// A new, seeded test account; returns its id.
    pub fn create_account(&self, business_name: &str, has_portal_config: bool) -> String {
        let now = self.shared.clock.now();
        self.inspect(|m| m.add_account(Account::new(business_name, "", has_portal_config, now)))
    }
}
