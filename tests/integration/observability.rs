//! What an operator watches: the Prometheus scrape at `/metrics` (read by the official
//! Python client's parser, `prometheus_client`), its bearer token and separate
//! listener, and the request id every answer carries.
//!
//! The metrics registry is one per process and every test's application records into
//! it, so these tests assert what their own requests must have added, never exact
//! totals.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tokio::process::Command;

use crate::customers::customer_named;
use crate::oauth::{business_with_spa, refresh, spa_tokens};
use crate::support::TestApp;

/// `prometheus_client` at this version, in a virtual environment of its own
/// (scripts/test installs it; `METRICS_VENV` names another one).
const PROMETHEUS_CLIENT: &str = "prometheus-client==0.26.0";

/// The venv's python3, checked to hold `prometheus_client`.
async fn python() -> PathBuf {
    let venv = match std::env::var_os("METRICS_VENV").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/bridgekeeper/venv-metrics"),
    };
    let python = venv.join("bin/python3");
    let found = Command::new(&python)
        .args(["-c", "import prometheus_client.parser"])
        .status()
        .await
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "no python3 with prometheus_client at {}: install it with \
         `python3 -m venv {1} && {1}/bin/pip install {PROMETHEUS_CLIENT}` (scripts/test does)",
        python.display(),
        venv.display(),
    );
    python
}

/// One metric family as `prometheus_client.parser` reads it. The parser names a
/// counter's family without its `_total`; its samples keep it.
#[derive(Debug, Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    samples: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = [
    {"name": f.name, "type": f.type,
     "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
    for f in text_string_to_metric_families(sys.stdin.read())
]
json.dump(families, sys.stdout)
"#;

/// The exposition parsed by `prometheus_client`, which refuses what is not valid text
/// format (the test fails on its traceback).
async fn parse(exposition: &str) -> Vec<Family> {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(python().await)
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(exposition.as_bytes())
        .await
        .expect("exposition written");
    drop(stdin);
    let output = child.wait_with_output().await.expect("parser ends");
    assert!(
        output.status.success(),
        "prometheus_client refused the exposition: {}\n{exposition}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the parser's JSON")
}

/// GETs `/metrics` at `base`, checks the answer is the text exposition, and parses it.
async fn scrape(base: &str, token: Option<&str>) -> Vec<Family> {
    let mut request = reqwest::Client::new().get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&response.text().await.expect("body")).await
}

/// The family holding samples called `sample_name` (or `sample_name` + `_bucket` for a
/// histogram), with its type checked.
fn family<'a>(families: &'a [Family], name: &str, kind: &str) -> &'a Family {
    let family_name = name.strip_suffix("_total").unwrap_or(name);
    let found = families
        .iter()
        .find(|f| f.name == family_name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
            panic!("no family {family_name} in the scrape; it has {names:?}")
        });
    assert_eq!(found.kind, kind, "{name} is a {kind}");
    found
}

/// Asserts the family has a sample with every label of `labels` (and perhaps more),
/// each sample carrying exactly the label names `label_names` (plus `le` on buckets),
/// and returns the largest value among the matching samples.
fn sample_value(
    families: &[Family],
    name: &str,
    kind: &str,
    label_names: &[&str],
    labels: &[(&str, &str)],
) -> f64 {
    let found = family(families, name, kind);
    let wanted: BTreeSet<&str> = label_names.iter().copied().collect();
    for sample in &found.samples {
        let mut names: BTreeSet<&str> = sample.labels.keys().map(String::as_str).collect();
        names.remove("le");
        assert_eq!(names, wanted, "labels of {}", sample.name);
    }
    let sample_name = match kind {
        "histogram" => format!("{name}_count"),
        _ => name.to_owned(),
    };
    found
        .samples
        .iter()
        .filter(|s| s.name == sample_name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .reduce(f64::max)
        .unwrap_or_else(|| panic!("no {sample_name} sample with {labels:?}: {found:?}"))
}

#[tokio::test]
async fn the_scrape_parses_as_prometheus_text_and_has_every_documented_family() {
    let app = TestApp::spawn().await;
    // A person's PKCE flow, a customer recorded and read back, a refresh token
    // presented twice, a failed login, an unsigned webhook, a page that does not exist.
    let (business, client) = business_with_spa(&app).await;
    let account = app.connect_stripe(None).await;
    let tokens = spa_tokens(&app, &client).await;
    let access_token = tokens.access_token();
    let refresh_token = tokens.refresh_token();
    let alice = customer_named(&app, &account, "Alice Active");
    let api = reqwest::Client::new();
    let recorded = api
        .post(app.url("/api/customers/"))
        .bearer_auth(&access_token)
        .json(&json!({"customer_id": alice}))
        .send()
        .await
        .expect("record");
    assert_eq!(recorded.status(), StatusCode::CREATED);
    let read = api
        .get(app.url(&format!("/api/customers/{alice}/")))
        .bearer_auth(&access_token)
        .send()
        .await
        .expect("read");
    assert_eq!(read.status(), StatusCode::OK);
    // The reuse revokes the family, the access token above with it.
    assert_eq!(
        refresh(&app, &client.client_id, &refresh_token)
            .await
            .status,
        StatusCode::OK
    );
    let reused = refresh(&app, &client.client_id, &refresh_token).await;
    assert_eq!(reused.error(), "invalid_grant");
    let other = app.new_client();
    let token = app.csrf_token_of(&other).await;
    let refused = other
        .post(app.url("/login"))
        .form(&[
            ("email", business.email.as_str()),
            ("password", "not the password"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let unsigned = app.post_webhook(b"{}", "t=1,v1=00").await;
    assert_eq!(unsigned.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/no/such/page").await.status(),
        StatusCode::NOT_FOUND
    );

    let families = scrape(&app.address, None).await;
    let http = ["method", "route", "status"];
    let healthz = [("method", "GET"), ("route", "/healthz"), ("status", "200")];
    assert!(
        sample_value(
            &families,
            "bridgekeeper_http_requests_total",
            "counter",
            &http,
            &healthz
        ) >= 1.0
    );
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert!(
        sample_value(
            &families,
            "bridgekeeper_http_requests_total",
            "counter",
            &http,
            &unmatched
        ) >= 1.0
    );
    assert!(
        sample_value(
            &families,
            "bridgekeeper_http_request_duration_seconds",
            "histogram",
            &http,
            &[
                ("route", "/o/token/"),
                ("method", "POST"),
                ("status", "200")
            ],
        ) >= 2.0,
        "the exchange and the first refresh"
    );
    let tokens = ["grant_type", "outcome"];
    assert!(
        sample_value(
            &families,
            "bridgekeeper_oauth_tokens_total",
            "counter",
            &tokens,
            &[("grant_type", "authorization_code"), ("outcome", "issued")],
        ) >= 1.0
    );
    assert!(
        sample_value(
            &families,
            "bridgekeeper_oauth_tokens_total",
            "counter",
            &tokens,
            &[
                ("grant_type", "refresh_token"),
                ("outcome", "invalid_grant")
            ],
        ) >= 1.0
    );
    assert!(
        sample_value(
            &families,
            "bridgekeeper_oauth_refresh_reuse_total",
            "counter",
            &[],
            &[]
        ) >= 1.0
    );
    assert!(
        sample_value(
            &families,
            "bridgekeeper_throttle_decisions_total",
            "counter",
            &["scope", "decision"],
            &[("scope", "login.account"), ("decision", "allowed")],
        ) >= 1.0
    );
    let stripe = ["method", "endpoint", "outcome"];
    let customer_read = [
        ("method", "GET"),
        ("endpoint", "/v1/customers/{id}"),
        ("outcome", "ok"),
    ];
    assert!(
        sample_value(
            &families,
            "bridgekeeper_stripe_requests_total",
            "counter",
            &stripe,
            &customer_read
        ) >= 1.0
    );
    assert!(
        sample_value(
            &families,
            "bridgekeeper_stripe_request_duration_seconds",
            "histogram",
            &stripe,
            &customer_read,
        ) >= 1.0
    );
    assert!(
        sample_value(
            &families,
            "bridgekeeper_stripe_webhook_events_total",
            "counter",
            &["type", "outcome"],
            &[("type", "unverified"), ("outcome", "rejected")],
        ) >= 1.0
    );
    let caches = ["cache", "outcome"];
    for (cache, outcome) in [
        ("verified_tokens", "miss"),
        ("verified_tokens", "hit"),
        ("customers", "hit"),
    ] {
        assert!(
            sample_value(
                &families,
                "bridgekeeper_cache_lookups_total",
                "counter",
                &caches,
                &[("cache", cache), ("outcome", outcome)],
            ) >= 1.0,
            "{cache} {outcome}"
        );
    }
    let max = sample_value(
        &families,
        "bridgekeeper_db_pool_max_connections",
        "gauge",
        &[],
        &[],
    );
    assert!(max >= 1.0);
    let idle = sample_value(
        &families,
        "bridgekeeper_db_pool_connections",
        "gauge",
        &["state"],
        &[("state", "idle")],
    );
    let in_use = sample_value(
        &families,
        "bridgekeeper_db_pool_connections",
        "gauge",
        &["state"],
        &[("state", "in_use")],
    );
    assert!(idle + in_use <= max, "{idle} + {in_use} <= {max}");

    if app.database_url.starts_with("sqlite") {
        assert!(
            sample_value(
                &families,
                "bridgekeeper_sqlite_write_batch_size",
                "histogram",
                &[],
                &[]
            ) >= 1.0
        );
        assert!(
            sample_value(
                &families,
                "bridgekeeper_sqlite_write_queue_wait_seconds",
                "histogram",
                &[],
                &[]
            ) >= 1.0
        );
        let wal = sample_value(
            &families,
            "bridgekeeper_sqlite_wal_size_bytes",
            "gauge",
            &[],
            &[],
        );
        assert!(wal > 0.0, "the WAL holds this test's writes: {wal}");
        // The checkpointer copies the WAL back after commits, on its own thread.
        let mut checkpoints = 0.0;
        for _ in 0..50 {
            let families = scrape(&app.address, None).await;
            if families
                .iter()
                .any(|f| f.name == "bridgekeeper_sqlite_checkpoint_duration_seconds")
            {
                checkpoints = sample_value(
                    &families,
                    "bridgekeeper_sqlite_checkpoint_duration_seconds",
                    "histogram",
                    &["mode"],
                    &[("mode", "passive")],
                );
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(checkpoints >= 1.0, "a passive checkpoint after the writes");
    }
}

const SCRAPE_TOKEN: &str = "scrape-token-0123456789abcdef";

#[tokio::test]
async fn with_a_bearer_token_a_scrape_without_it_or_with_another_is_refused() {
    let app = TestApp::builder()
        .with_env("METRICS_BEARER_TOKEN", SCRAPE_TOKEN)
        .spawn()
        .await;
    let url = app.url("/metrics");
    let bare = reqwest::Client::new()
        .get(&url)
        .send()
        .await
        .expect("scrape");
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        bare.headers()["www-authenticate"],
        "Bearer realm=\"metrics\""
    );
    let wrong = reqwest::Client::new()
        .get(&url)
        .bearer_auth("scrape-token-0123456789abcdeX")
        .send()
        .await
        .expect("scrape");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let families = scrape(&app.address, Some(SCRAPE_TOKEN)).await;
    family(&families, "bridgekeeper_http_requests_total", "counter");
}

#[tokio::test]
async fn with_a_metrics_address_the_scrape_moves_off_the_public_listener() {
    let app = TestApp::builder()
        .with_env("METRICS_ADDRESS", "127.0.0.1:0")
        .spawn()
        .await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let metrics = app.metrics_address.as_deref().expect("a metrics listener");
    let families = scrape(metrics, None).await;
    assert!(
        sample_value(
            &families,
            "bridgekeeper_http_requests_total",
            "counter",
            &["method", "route", "status"],
            &[("route", "/healthz")],
        ) >= 1.0
    );
}

#[tokio::test]
async fn a_request_id_is_echoed_and_made_when_missing_or_unfit() {
    let app = TestApp::spawn().await;
    let given = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "edge-7f3a:42")
        .send()
        .await
        .expect("GET");
    assert_eq!(given.headers()["x-request-id"], "edge-7f3a:42");

    let made = app.get("/healthz").await;
    let first = made.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let second = app.get("/healthz").await.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(first.len() >= 16, "{first}");
    assert_ne!(first, second, "each request gets its own");

    for unfit in ["a\"b", &"x".repeat(129)] {
        let answer = app
            .client
            .get(app.url("/healthz"))
            .header("X-Request-Id", unfit)
            .send()
            .await
            .expect("GET");
        let id = answer.headers()["x-request-id"].to_str().expect("ascii");
        assert_ne!(id, unfit);
        assert!(!id.is_empty());
    }
}
