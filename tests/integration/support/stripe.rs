//! Helpers for the Stripe tests: the app's sandbox emulator, the Connect flow driven over
//! HTTP (no browser), and signed webhook deliveries.

use bridgekeeper::stripe::webhook;
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use stripe_emulator::EmulatorHandle;
use url::Url;

use super::{location, TestApp};

impl TestApp {
    /// The sandbox emulator the app started (tests run without platform keys).
    pub fn emulator(&self) -> &EmulatorHandle {
        self.stripe_emulator
            .as_ref()
            .expect("the test app runs in sandbox mode")
    }

    pub fn sandbox_webhook_secret(&self) -> String {
        self.state
            .stripe
            .sandbox_credentials()
            .expect("sandbox credentials")
            .webhook_secret
            .clone()
    }

    /// Clicks "Connect with Stripe" on `client`'s session; returns Stripe's authorize URL.
    pub async fn start_connect_with(&self, client: &reqwest::Client) -> Url {
        let page = client
            .get(self.url("/dashboard/connect/"))
            .send()
            .await
            .expect("GET tab")
            .text()
            .await
            .expect("body");
        let token = super::csrf_token_in(&page);
        let response = client
            .post(self.url("/dashboard/connect/start"))
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .expect("POST start");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        Url::parse(&location(&response)).expect("authorize URL")
    }

    pub async fn start_connect(&self) -> Url {
        self.start_connect_with(&self.client).await
    }

    /// Completes the Connect flow on `self.client`, picking `account` (or a new test
    /// account); returns the connected account id.
    pub async fn connect_stripe(&self, account: Option<&str>) -> String {
        let authorize = self.start_connect().await;
        let callback = decide(&authorize, "approve", account).await;
        let response = self
            .client
            .get(callback.as_str())
            .send()
            .await
            .expect("callback");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "callback refused");
        let tab = self
            .get("/dashboard/connect/")
            .await
            .text()
            .await
            .expect("body");
        let marker = "<code id=\"account-id\">";
        let start = tab.find(marker).expect("connected account shown") + marker.len();
        let end = tab[start..].find('<').expect("end") + start;
        tab[start..end].to_owned()
    }

    /// POSTs `body` to the webhook endpoint with `signature` as `Stripe-Signature`.
    pub async fn post_webhook(&self, body: &[u8], signature: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url("/webhooks/stripe"))
            .header("Content-Type", "application/json; charset=utf-8")
            .header("Stripe-Signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .expect("POST webhook")
    }

    /// Signs `event` with the sandbox secret at the app's current time and posts it.
    pub async fn send_event(&self, event: &serde_json::Value) -> reqwest::Response {
        let body = serde_json::to_vec_pretty(event).expect("json");
        let secret = self.sandbox_webhook_secret();
        let signature = webhook::sign(&body, &[&secret], self.state.now());
        self.post_webhook(&body, &signature).await
    }
}

/// What the person does on Stripe's authorize page: opens it (its form carries the
/// emulator session's CSRF token), then `approve` or `deny`. Returns the URL Stripe
/// redirects the browser to.
pub async fn decide(authorize: &Url, decision: &str, account: Option<&str>) -> Url {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client");
    let page = browser
        .get(authorize.as_str())
        .send()
        .await
        .expect("GET the authorize page");
    assert_eq!(page.status(), StatusCode::OK, "the authorize page");
    let csrf = super::csrf_token_in(&page.text().await.expect("page"));
    let mut form: Vec<(String, String)> = authorize
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let prefill = |key: &str| {
        form.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (email, business) = (
        prefill("stripe_user[email]"),
        prefill("stripe_user[business_name]"),
    );
    form.retain(|(k, _)| !k.starts_with("stripe_user"));
    form.push(("email".into(), email));
    form.push(("business_name".into(), business));
    form.push(("decision".into(), decision.into()));
    form.push(("account".into(), account.unwrap_or("new").into()));
    form.push(("csrf_token".into(), csrf));
    let mut target = authorize.clone();
    target.set_query(None);
    let response = browser
        .post(target)
        .form(&form)
        .send()
        .await
        .expect("POST authorize decision");
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "Stripe redirects back"
    );
    Url::parse(&location(&response)).expect("redirect URL")
}

pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
