//! Traces over OTLP: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the spans of a request
//! reach a collector. The collector here is a real OTLP/HTTP endpoint on loopback that
//! decodes each `ExportTraceServiceRequest` with the `opentelemetry-proto` types.
//!
//! A test binary of its own: tracing's subscriber is global to the process, and this one
//! exports to a collector that lives only as long as the test.
#![expect(
    clippy::expect_used,
    reason = "test code: a failed expectation is the test failing, with its message"
)]

#[expect(
    dead_code,
    reason = "the integration suite's support module, of which this binary uses a part"
)]
#[path = "integration/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use bridgekeeper::config::Settings;
use bridgekeeper::oauth::registration::ClientForm;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use reqwest::StatusCode;
use serde_json::json;

use support::TestApp;

/// What the collector received, with the `service.name` of each batch's resource.
#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    service_names: Vec<String>,
}

async fn export(received: web::Data<Mutex<Received>>, body: web::Bytes) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
        return HttpResponse::BadRequest().finish();
    };
    if let Ok(mut received) = received.lock() {
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .and_then(|a| string_value(a.value.as_ref()?.value.as_ref()?));
            received.service_names.extend(service);
            for scope_spans in resource_spans.scope_spans {
                received.spans.extend(scope_spans.spans);
            }
        }
    }
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .body(ExportTraceServiceResponse::default().encode_to_vec())
}

fn string_value(value: &Value) -> Option<String> {
    match value {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

/// A span's attributes as strings.
fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .filter_map(|a| {
            Some((
                a.key.clone(),
                string_value(a.value.as_ref()?.value.as_ref()?)?,
            ))
        })
        .collect()
}

/// An OTLP/HTTP collector on a free loopback port: its base URL and what it received.
fn start_collector() -> (String, web::Data<Mutex<Received>>) {
    let received = web::Data::new(Mutex::new(Received::default()));
    let data = received.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
            .route("/v1/traces", web::post().to(export))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("collector binds");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}"), received)
}

const REQUEST_ID: &str = "otlp-test-request-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_span_and_its_use_case_and_stripe_children_reach_the_collector() {
    let (collector, received) = start_collector();
    // What `bridgekeeper serve` does first: the subscriber from the settings.
    let settings = Settings::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(collector.clone()),
        "OTEL_SERVICE_NAME" => Some("bridgekeeper-otlp-test".into()),
        "LOG_LEVEL" => Some("warn".into()),
        _ => None,
    })
    .expect("settings");
    let tracing = bridgekeeper::telemetry::init(
        settings.log_format,
        &settings.log_filter,
        &settings.telemetry,
    )
    .expect("the OTLP exporter");
    let app = TestApp::builder()
        .with_env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector)
        .spawn()
        .await;

    // A business connected to the sandbox, a back end with a client-credentials token.
    let owner = app.logged_in_business("owner@acme.test").await;
    let account = app.connect_stripe(None).await;
    let (client, secret) = app
        .register_client(
            &owner,
            ClientForm {
                name: "Acme back end".into(),
                client_type: "confidential".into(),
                redirect_uris: vec!["https://backend.test/cb".into()],
                grant_types: vec!["client_credentials".into()],
                scopes: vec!["customers:read".into(), "customers:write".into()],
                cors_origins: vec![],
                issue_refresh_tokens: false,
                always_ask_consent: false,
            },
        )
        .await;
    let secret = secret.expect("a confidential client's secret");
    let tokens: serde_json::Value = reqwest::Client::new()
        .post(app.url("/o/token/"))
        .basic_auth(&client.client_id, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "customers:write"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    let access_token = tokens["access_token"].as_str().expect("a token").to_owned();
    let alice = app.emulator().inspect(|model| {
        model.accounts[&account]
            .customers
            .iter()
            .find(|c| c.name == "Alice Active")
            .map(|c| c.id.clone())
            .expect("the seeded customer")
    });

    // The one request: recording a customer reads Stripe and writes the copy.
    let recorded = reqwest::Client::new()
        .post(app.url("/api/customers/"))
        .bearer_auth(&access_token)
        .header("X-Request-Id", REQUEST_ID)
        .json(&json!({"customer_id": alice}))
        .send()
        .await
        .expect("record");
    assert_eq!(recorded.status(), StatusCode::CREATED);

    // The spans end as the answer goes out; the exporter sends them in batches.
    let mut spans = Vec::new();
    for _ in 0..100 {
        // `flush` waits for the collector's answer.
        tokio::task::block_in_place(|| tracing.flush());
        spans = received.lock().map(|r| r.spans.clone()).unwrap_or_default();
        let request = spans
            .iter()
            .find(|s| attributes(s).get("request_id").map(String::as_str) == Some(REQUEST_ID));
        if let Some(request) = request {
            let children = spans
                .iter()
                .filter(|s| s.parent_span_id == request.span_id)
                .count();
            if children >= 3 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let request = spans
        .iter()
        .find(|s| attributes(s).get("request_id").map(String::as_str) == Some(REQUEST_ID))
        .unwrap_or_else(|| {
            panic!(
                "no span with request_id {REQUEST_ID} among {} spans",
                spans.len()
            )
        });
    assert_eq!(request.name, "POST /api/customers/");
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert!(
        request.parent_span_id.is_empty(),
        "a request's span is a root"
    );
    let attrs = attributes(request);
    assert_eq!(attrs["http.request.method"], "POST");
    assert_eq!(attrs["http.route"], "/api/customers/");
    assert_eq!(attrs["http.response.status_code"], "201");

    // Everything the request did hangs under its span, in its trace.
    let descends_from_request = |span: &Span| {
        let mut parent = span.parent_span_id.clone();
        while !parent.is_empty() {
            if parent == request.span_id {
                return true;
            }
            parent = spans
                .iter()
                .find(|s| s.span_id == parent)
                .map(|s| s.parent_span_id.clone())
                .unwrap_or_default();
        }
        false
    };
    let inside: Vec<&Span> = spans.iter().filter(|s| descends_from_request(s)).collect();
    assert!(inside.iter().all(|s| s.trace_id == request.trace_id));

    let stripe: Vec<&&Span> = inside
        .iter()
        .filter(|s| s.name == "Stripe GET /v1/customers/{id}")
        .collect();
    assert_eq!(stripe.len(), 1, "one customer read: {:?}", names(&inside));
    let stripe_attrs = attributes(stripe[0]);
    assert_eq!(stripe[0].kind, SpanKind::Client as i32);
    assert_eq!(stripe_attrs["stripe.endpoint"], "/v1/customers/{id}");
    assert_eq!(stripe_attrs["stripe.account"], account);
    assert_eq!(stripe_attrs["http.response.status_code"], "200");
    assert!(
        stripe_attrs["stripe.request_id"].starts_with("req_"),
        "Stripe's Request-Id: {stripe_attrs:?}"
    );

    let use_cases: Vec<(&str, String)> = inside
        .iter()
        .filter_map(|s| Some((s.name.as_str(), attributes(s).get("db.access")?.clone())))
        .collect();
    assert!(
        use_cases.iter().any(|(_, access)| access == "write"),
        "the copy is written in a use case: {use_cases:?}"
    );
    assert!(
        use_cases
            .iter()
            .all(|(name, _)| !name.contains("{{closure}}") && !name.starts_with("bridgekeeper::")),
        "use cases are named after their function: {use_cases:?}"
    );

    let services = received
        .lock()
        .map(|r| r.service_names.clone())
        .unwrap_or_default();
    assert!(
        services.iter().all(|s| s == "bridgekeeper-otlp-test"),
        "{services:?}"
    );
}

fn names(spans: &[&Span]) -> Vec<String> {
    spans.iter().map(|s| s.name.clone()).collect()
}
