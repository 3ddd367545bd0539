//! The Stripe HTTP client: reqwest over rustls, Stripe's wire conventions, bounded
//! retries. No HTTP-framework types.
//!
//! - Every request carries `Authorization: Bearer <platform secret key>` and the pinned
//!   `Stripe-Version`; calls for a connected account add `Stripe-Account: acct_…`.
//! - Every POST carries an `Idempotency-Key`, the same one on each of its retries.
//! - Retries (jittered exponential backoff, at most `max_retries`): connection errors and
//!   timeouts, 409, 429 only with `Stripe-Should-Retry: true` or `lock_timeout`, 5xx unless
//!   `Stripe-Should-Retry: false`. Never 400/401/402/403/404, and never the OAuth code
//!   exchange (Stripe revokes the connection when a code is presented twice).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tracing::field::Empty;
use tracing::Instrument;
use url::Url;

use super::error::{StripeError, StripeErrorKind};
use super::form;
use super::types::{
    BillingPortalSession, Customer, Deauthorization, List, OAuthToken, Subscription,
};
use crate::crypto::random_token;
use crate::stripe::platform_settings::SecretKey;

pub const STRIPE_API_BASE: &str = "https://api.stripe.com";
pub const STRIPE_CONNECT_BASE: &str = "https://connect.stripe.com";

/// Everything the client needs, usually built from settings and platform credentials.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub api_base: Url,
    pub connect_base: Url,
    pub api_version: String,
    pub secret_key: SecretKey,
    pub connect_client_id: String,
    pub timeout: Duration,
    pub max_retries: u32,
    /// First retry delay; doubled per retry up to `max_backoff`, then jittered.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl ClientConfig {
    /// Stripe SDK defaults for backoff: 0.5 s doubling to at most 5 s.
    pub fn new(
        api_base: Url,
        connect_base: Url,
        api_version: &str,
        secret_key: SecretKey,
        connect_client_id: &str,
    ) -> Self {
        Self {
            api_base,
            connect_base,
            api_version: api_version.to_owned(),
            secret_key,
            connect_client_id: connect_client_id.to_owned(),
            timeout: Duration::from_secs(20),
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    Api,
    Connect,
}

struct Call<'a> {
    method: Method,
    host: Host,
    /// The path's pattern (`/v1/customers/{id}`): the metrics' label, never the path
    /// itself, which holds ids.
    endpoint: &'static str,
    path: String,
    params: Vec<(String, String)>,
    account: Option<&'a str>,
    retry: bool,
}

#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("config", &self.config)
            .finish()
    }
}

/// Parameters of `GET /v1/subscriptions`.
#[derive(Debug, Clone, Default)]
pub struct ListSubscriptions {
    pub customer: Option<String>,
    /// `active`, `trialing`, …, or `all`; `None` is Stripe's default (everything not canceled).
    pub status: Option<String>,
    pub price: Option<String>,
    /// Page size, 1 to 100.
    pub limit: Option<u32>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
    /// Dotted paths, e.g. `data.items.data.price.product`.
    pub expand: Vec<String>,
}

impl ListSubscriptions {
    fn params(&self) -> Value {
        json!({
            "customer": self.customer,
            "status": self.status,
            "price": self.price,
            "limit": self.limit,
            "starting_after": self.starting_after,
            "ending_before": self.ending_before,
            "expand": if self.expand.is_empty() { Value::Null } else { json!(self.expand) },
        })
    }
}

/// An id as one URL path segment.
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// The HTTP client Stripe calls go through: its connection pool keeps connections (and
/// their TLS sessions) to Stripe open between calls, so build it once and share it.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("bridgekeeper/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

impl StripeClient {
    /// A client with an HTTP connection pool of its own.
    pub fn new(config: ClientConfig) -> Result<Self, reqwest::Error> {
        Ok(Self::with_http(http_client(config.timeout)?, config))
    }

    /// A client over a shared HTTP connection pool (see [`http_client`]).
    pub fn with_http(http: reqwest::Client, config: ClientConfig) -> Self {
        Self {
            http,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Where to send the business to connect its account (Connect OAuth for Standard
    /// accounts): `response_type=code`, our `client_id`, `scope=read_write`, the exact
    /// `redirect_uri`, the `state`, and the sign-up form prefilled.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        email: &str,
        business_name: &str,
    ) -> Url {
        let mut url = join(&self.config.connect_base, "/oauth/authorize");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.connect_client_id)
            .append_pair("scope", "read_write")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state)
            .append_pair("stripe_user[email]", email)
            .append_pair("stripe_user[business_name]", business_name);
        url
    }

    /// Exchanges an authorization code, exactly once: never retried, since presenting a
    /// code twice revokes the connection.
    pub async fn exchange_code(&self, code: &str) -> Result<OAuthToken, StripeError> {
        self.execute(Call {
            method: Method::POST,
            host: Host::Connect,
            endpoint: "/oauth/token",
            path: "/oauth/token".into(),
            params: form::flatten(&json!({"grant_type": "authorization_code", "code": code})),
            account: None,
            retry: false,
        })
        .await
    }

    /// Disconnects an account from the platform.
    pub async fn deauthorize(&self, stripe_user_id: &str) -> Result<Deauthorization, StripeError> {
        self.execute(Call {
            method: Method::POST,
            host: Host::Connect,
            endpoint: "/oauth/deauthorize",
            path: "/oauth/deauthorize".into(),
            params: form::flatten(&json!({
                "client_id": self.config.connect_client_id,
                "stripe_user_id": stripe_user_id,
            })),
            account: None,
            retry: true,
        })
        .await
    }

    /// A customer of a connected account; a deleted one comes back with `deleted: true`.
    pub async fn retrieve_customer(
        &self,
        account: &str,
        customer_id: &str,
    ) -> Result<Customer, StripeError> {
        self.execute(Call {
            method: Method::GET,
            host: Host::Api,
            endpoint: "/v1/customers/{id}",
            path: format!("/v1/customers/{}", segment(customer_id)),
            params: Vec::new(),
            account: Some(account),
            retry: true,
        })
        .await
    }

    /// One page of `GET /v1/subscriptions`.
    pub async fn list_subscriptions_page(
        &self,
        account: &str,
        query: &ListSubscriptions,
    ) -> Result<List<Subscription>, StripeError> {
        self.execute(Call {
            method: Method::GET,
            host: Host::Api,
            endpoint: "/v1/subscriptions",
            path: "/v1/subscriptions".into(),
            params: form::flatten(&query.params()),
            account: Some(account),
            retry: true,
        })
        .await
    }

    /// Every matching subscription, following `has_more` with `starting_after` (bounded
    /// to 100 pages as a guard against a server that never stops).
    pub async fn list_subscriptions(
        &self,
        account: &str,
        query: &ListSubscriptions,
    ) -> Result<Vec<Subscription>, StripeError> {
        let mut query = query.clone();
        query.ending_before = None;
        let mut all = Vec::new();
        for _ in 0..100 {
            let page = self.list_subscriptions_page(account, &query).await?;
            let last = page.data.last().map(|s| s.id.clone());
            all.extend(page.data);
            match (page.has_more, last) {
                (true, Some(last)) => query.starting_after = Some(last),
                _ => return Ok(all),
            }
        }
        Ok(all)
    }

    /// A short-lived billing-portal session for a customer of a connected account.
    pub async fn create_billing_portal_session(
        &self,
        account: &str,
        customer_id: &str,
        return_url: Option<&str>,
    ) -> Result<BillingPortalSession, StripeError> {
        self.execute(Call {
            method: Method::POST,
            host: Host::Api,
            endpoint: "/v1/billing_portal/sessions",
            path: "/v1/billing_portal/sessions".into(),
            params: form::flatten(&json!({"customer": customer_id, "return_url": return_url})),
            account: Some(account),
            retry: true,
        })
        .await
    }

    /// One call, retries included, in a span of its own that carries Stripe's
    /// `Request-Id`, counted and timed by endpoint and outcome.
    async fn execute<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, StripeError> {
        let span = tracing::info_span!(
            "stripe",
            otel.name = format!("Stripe {} {}", call.method, call.endpoint),
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = %call.method,
            stripe.endpoint = call.endpoint,
            stripe.account = call.account,
            http.response.status_code = Empty,
            stripe.request_id = Empty,
            stripe.attempts = Empty,
        );
        let (method, endpoint) = (call.method.clone(), call.endpoint);
        let started = Instant::now();
        let result = self.execute_in_span(call).instrument(span.clone()).await;
        let outcome = match &result {
            Ok(Answer {
                status, request_id, ..
            }) => {
                span.record("http.response.status_code", status);
                span.record("stripe.request_id", request_id.as_deref());
                "ok"
            }
            Err(error) => {
                span.record("otel.status_code", "ERROR");
                span.record("http.response.status_code", error.status);
                span.record("stripe.request_id", error.request_id.as_deref());
                span.record("stripe.attempts", error.attempts);
                error_outcome(error)
            }
        };
        let labels = [
            ("method", method.as_str().to_owned()),
            ("endpoint", endpoint.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        metrics::histogram!("bridgekeeper_stripe_request_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("bridgekeeper_stripe_requests_total", &labels).increment(1);
        result.map(|answer| answer.value)
    }

    async fn execute_in_span<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<Answer<T>, StripeError> {
        let base = match call.host {
            Host::Api => &self.config.api_base,
            Host::Connect => &self.config.connect_base,
        };
        let mut url = join(base, &call.path);
        let is_post = call.method == Method::POST;
        if !is_post && !call.params.is_empty() {
            url.set_query(Some(&form::encode(&call.params)));
        }
        let body = is_post.then(|| form::encode(&call.params));
        let idempotency_key = is_post.then(|| format!("bk-{}", random_token(24)));
        let max_attempts = if call.retry {
            self.config.max_retries + 1
        } else {
            1
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(call.method.clone(), url.clone())
                .bearer_auth(self.config.secret_key.expose())
                .header("Stripe-Version", &self.config.api_version);
            if let Some(account) = call.account {
                request = request.header("Stripe-Account", account);
            }
            if let Some(key) = &idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = &body {
                request = request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body.clone());
            }
            let outcome = self.attempt(request).await;
            let (error, retryable) = match outcome {
                Ok(Attempt::Success {
                    status,
                    body,
                    request_id,
                }) => {
                    return match serde_json::from_slice(&body) {
                        Ok(value) => Ok(Answer {
                            value,
                            status,
                            request_id,
                        }),
                        Err(e) => {
                            let mut err = StripeError::new(
                                StripeErrorKind::Decode,
                                format!("unexpected answer from {}: {e}", call.path),
                            );
                            err.request_id = request_id;
                            err.attempts = attempt;
                            Err(err)
                        }
                    };
                }
                Ok(Attempt::Failure { error, retryable }) => (error, retryable),
                Err(error) => (error, true),
            };
            tracing::warn!(
                method = %call.method,
                path = %call.path,
                status = error.status,
                request_id = error.request_id.as_deref(),
                code = error.code.as_deref(),
                attempt,
                "Stripe request failed"
            );
            if !retryable || attempt >= max_attempts {
                return Err(StripeError {
                    attempts: attempt,
                    ..error
                });
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exp.min(self.config.max_backoff);
        // Jitter: between half and all of the capped delay.
        let factor = rand::thread_rng().gen_range(0.5..=1.0);
        capped.mul_f64(factor)
    }

    async fn attempt(&self, request: reqwest::RequestBuilder) -> Result<Attempt, StripeError> {
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("request-id");
        let should_retry = header("stripe-should-retry");
        let body = response.bytes().await.map_err(transport_error)?.to_vec();
        if (200..300).contains(&status) {
            return Ok(Attempt::Success {
                status,
                body,
                request_id,
            });
        }
        let error = StripeError::from_response(status, request_id, &body);
        let retryable = match should_retry.as_deref() {
            Some("true") => true,
            Some("false") => false,
            _ => {
                status == 409
                    || status >= 500
                    || (status == 429 && error.code.as_deref() == Some("lock_timeout"))
            }
        };
        Ok(Attempt::Failure { error, retryable })
    }
}

/// A decoded answer and Stripe's `Request-Id` for it.
struct Answer<T> {
    value: T,
    status: u16,
    request_id: Option<String>,
}

/// The `outcome` label of a failed call.
fn error_outcome(error: &StripeError) -> &'static str {
    match (error.kind, error.status) {
        (StripeErrorKind::Timeout, _) => "timeout",
        (StripeErrorKind::Network, _) => "network_error",
        (StripeErrorKind::Decode, _) => "decode_error",
        (StripeErrorKind::NotConfigured, _) => "not_configured",
        (_, Some(status)) if status >= 500 => "server_error",
        _ => "client_error",
    }
}

enum Attempt {
    Success {
        status: u16,
        body: Vec<u8>,
        request_id: Option<String>,
    },
    Failure {
        error: StripeError,
        retryable: bool,
    },
}

fn transport_error(e: reqwest::Error) -> StripeError {
    if e.is_timeout() {
        StripeError::new(StripeErrorKind::Timeout, "timed out")
    } else {
        // reqwest's message names the URL, never headers.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        StripeError::new(StripeErrorKind::Network, message)
    }
}

/// `base` + `path`, keeping any path prefix the base has.
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url.set_query(None);
    url
}
