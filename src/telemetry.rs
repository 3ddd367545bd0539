//! What an operator watches: structured logs with `tracing` (human-readable by default,
//! JSON with `LOG_FORMAT=json`), traces exported over OTLP when a collector is
//! configured, and the Prometheus metrics served at `/metrics`.
//!
//! Spans: one per request (`web::middleware::observe_requests`), one per use case
//! (`db::Database::read` and `write`, at DEBUG), one per Stripe call. The log output
//! shows the INFO ones (the request, with its request id) as the context of each line;
//! the OTLP exporter gets all of them. Without a collector (and unless `LOG_LEVEL`
//! asks for DEBUG) the DEBUG spans are disabled where they are created: their interest
//! is cached per call site, so each costs a load and a compare.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::level_filters::LevelFilter;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, TelemetrySettings};

/// actix-web logs a request it cannot parse (a client's malformed header, say) at
/// ERROR, from its connection dispatcher. That is the client's fault, answered with a
/// 400; an operator's error log is for the server's faults. Unless the configured
/// filter names `actix_http` itself, those lines are left out.
const CLIENT_PARSE_ERRORS_OFF: &str = "actix_http::h1::dispatcher=off";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP exporter for {endpoint}: {source}")]
    Exporter {
        endpoint: String,
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// Set once the subscriber exports traces.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Names `span` for the collector after it started, once what it is became known (a
/// request's route is known after routing, when its first child may already exist:
/// the `otel.name` field only names a span that has no child yet). Nothing to do
/// when no traces are exported.
pub fn rename_exported_span(span: &tracing::Span, name: impl FnOnce() -> String) {
    if EXPORTING.load(Ordering::Relaxed) {
        span.context().span().update_name(name());
    }
}

/// Keeps the trace exporter running; dropping it sends what is still buffered.
pub struct TracingGuard {
    provider: Option<SdkTracerProvider>,
}

impl TracingGuard {
    /// Sends the spans that ended so far to the collector now, waiting for the answer.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            if let Err(error) = provider.force_flush() {
                tracing::warn!(%error, "could not send traces to the OTLP collector");
            }
        }
    }
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber once; later calls (tests start many apps) do
/// nothing. With an OTLP endpoint, spans also go to that collector (OTLP/HTTP with
/// protobuf bodies, in batches from a thread of the exporter's own).
pub fn init(
    format: LogFormat,
    filter: &str,
    telemetry: &TelemetrySettings,
) -> Result<TracingGuard, TelemetryError> {
    let provider = telemetry
        .otlp_endpoint
        .as_ref()
        .map(|endpoint| tracer_provider(endpoint, &telemetry.service_name))
        .transpose()?;
    let logs = log_layer(format, filter);
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("bridgekeeper"))
            .with_filter(exported_spans())
    });
    let exporting = traces.is_some();
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok();
    if installed && exporting {
        EXPORTING.store(true, Ordering::Relaxed);
    }
    Ok(TracingGuard { provider })
}

/// Log lines on standard error, filtered by `LOG_LEVEL` for themselves alone: the
/// exporter, when there is one, has its own filter.
fn log_layer(format: LogFormat, filter: &str) -> Box<dyn Layer<Registry> + Send + Sync> {
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .with_filter(env_filter(filter))
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(env_filter(filter))
            .boxed(),
    }
}

/// What goes to the collector: this service's spans and events, DEBUG and up (the use
/// cases are DEBUG spans), and nothing of the libraries, the exporter's own HTTP
/// client included.
fn exported_spans() -> Targets {
    Targets::new().with_target("bridgekeeper", LevelFilter::DEBUG)
}

fn tracer_provider(
    endpoint: &url::Url,
    service_name: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    // OTEL_EXPORTER_OTLP_ENDPOINT is the collector's base URL; each signal has its own
    // path under it (the OTLP specification's rule for this variable).
    let traces = format!("{}/v1/traces", endpoint.as_str().trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces.clone())
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|source| TelemetryError::Exporter {
            endpoint: traces,
            source,
        })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build())
}

/// Latency buckets in seconds, for every `…_seconds` histogram: from the 100 µs of a
/// cached read to the 10 s of a slow Stripe call.
const SECONDS_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Use cases per SQLite commit: powers of two up to the writer's batch limit (128).
const BATCH_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// How often histogram samples are folded into their buckets (between scrapes, so
/// memory stays bounded however seldom Prometheus comes).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics registry, installed as the global `metrics` recorder on the
/// first call. The recorder is one per process: every `Application` in it records
/// into the same registry and renders it whole (tests start many in one process).
pub fn metrics() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("bridgekeeper_sqlite_write_batch_size".into()),
                    &BATCH_BUCKETS,
                )
            })
            .unwrap_or_else(|_| unreachable!("the bucket lists are not empty"));
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        describe_metrics();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(METRICS_UPKEEP);
                upkeep.run_upkeep();
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "no metrics upkeep thread; histograms are folded at each scrape");
        }
        handle
    })
}

/// The `# HELP` text and unit of every metric (docs/operations.md has the same table).
fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "bridgekeeper_http_requests_total",
        Unit::Count,
        "HTTP requests answered, by method, route pattern and status."
    );
    describe_histogram!(
        "bridgekeeper_http_request_duration_seconds",
        Unit::Seconds,
        "Time from a request's arrival to its answer, by method, route pattern and status."
    );
    describe_counter!(
        "bridgekeeper_oauth_tokens_total",
        Unit::Count,
        "Token requests by grant type and outcome (issued, or the OAuth error code)."
    );
    describe_counter!(
        "bridgekeeper_oauth_refresh_reuse_total",
        Unit::Count,
        "Rotated-out refresh tokens presented again; each revoked its token family."
    );
    describe_counter!(
        "bridgekeeper_throttle_decisions_total",
        Unit::Count,
        "Throttle checks by scope (login.account, login.ip, oauth.client) and decision."
    );
    describe_counter!(
        "bridgekeeper_stripe_requests_total",
        Unit::Count,
        "Calls to Stripe, retries included, by method, endpoint and outcome."
    );
    describe_histogram!(
        "bridgekeeper_stripe_request_duration_seconds",
        Unit::Seconds,
        "Time of a call to Stripe, retries included, by method, endpoint and outcome."
    );
    describe_counter!(
        "bridgekeeper_stripe_webhook_events_total",
        Unit::Count,
        "Stripe webhook deliveries by event type and outcome."
    );
    describe_histogram!(
        "bridgekeeper_sqlite_write_batch_size",
        Unit::Count,
        "Use cases committed together by the SQLite writer, per commit."
    );
    describe_histogram!(
        "bridgekeeper_sqlite_write_queue_wait_seconds",
        Unit::Seconds,
        "Time a write use case waited for the SQLite writer."
    );
    describe_histogram!(
        "bridgekeeper_sqlite_checkpoint_duration_seconds",
        Unit::Seconds,
        "Time of one WAL checkpoint, by mode (passive, restart)."
    );
    describe_gauge!(
        "bridgekeeper_sqlite_wal_size_bytes",
        Unit::Bytes,
        "Size of the SQLite WAL file, at the scrape."
    );
    describe_gauge!(
        "bridgekeeper_db_pool_connections",
        Unit::Count,
        "Open pooled database connections by state (idle, in_use), at the scrape."
    );
    describe_gauge!(
        "bridgekeeper_db_pool_max_connections",
        Unit::Count,
        "The database connection pool's size limit."
    );
    describe_counter!(
        "bridgekeeper_cache_lookups_total",
        Unit::Count,
        "Cache lookups by cache (verified_tokens, customers) and outcome (hit, miss, stale)."
    );
}

/// `LOG_LEVEL` as a filter (`info` when it does not parse), with actix-web's
/// client-parse errors left out unless the filter names `actix_http`.
fn env_filter(spec: &str) -> EnvFilter {
    let filter = EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info"));
    if filter.to_string().contains("actix_http") {
        return filter;
    }
    match CLIENT_PARSE_ERRORS_OFF.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::env_filter;

    /// What a subscriber with `LOG_LEVEL=spec` writes for one ERROR line from
    /// actix-web's dispatcher and one from bridgekeeper.
    fn logged(spec: &str) -> String {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(env_filter(spec))
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "actix_http::h1::dispatcher", "request parse error");
            tracing::error!(target: "bridgekeeper::db", "the disk is full");
        });
        let bytes = lines.lock().map(|l| l.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut lines) = self.0.lock() {
                lines.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn without_a_collector_use_case_spans_are_disabled_and_request_spans_are_not() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry()
            .with(super::log_layer(crate::config::LogFormat::Text, "info"));
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::debug_span!("use_case").is_disabled());
            assert!(!tracing::info_span!("request").is_disabled());
        });
    }

    #[test]
    fn the_exporter_takes_this_services_debug_spans_and_no_librarys() {
        use tracing::Level;
        let targets = super::exported_spans();
        assert!(targets.would_enable("bridgekeeper::db", &Level::DEBUG));
        assert!(!targets.would_enable("bridgekeeper::db", &Level::TRACE));
        assert!(!targets.would_enable("reqwest::connect", &Level::INFO));
        assert!(!targets.would_enable("opentelemetry_sdk", &Level::WARN));
    }

    #[test]
    fn a_clients_malformed_request_is_not_an_error_line_by_default() {
        let log = logged("info");
        assert!(!log.contains("request parse error"), "{log}");
        assert!(log.contains("the disk is full"), "{log}");
    }

    #[test]
    fn a_filter_naming_actix_http_shows_its_parse_errors() {
        let log = logged("info,actix_http=error");
        assert!(log.contains("request parse error"), "{log}");
    }

    #[test]
    fn a_filter_that_does_not_parse_falls_back_to_info() {
        let log = logged("no such=level=here");
        assert!(log.contains("the disk is full"), "{log}");
        assert!(!log.contains("request parse error"), "{log}");
    }
}
