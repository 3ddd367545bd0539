//! Structured logs with `tracing`: human-readable by default, JSON with `LOG_FORMAT=json`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// actix-web logs a request it cannot parse (a client's malformed header, say) at
/// ERROR, from its connection dispatcher. That is the client's fault, answered with a
/// 400; an operator's error log is for the server's faults. Unless the configured
/// filter names `actix_http` itself, those lines are left out.
const CLIENT_PARSE_ERRORS_OFF: &str = "actix_http::h1::dispatcher=off";

/// Installs the global subscriber once; later calls (tests start many apps) do nothing.
pub fn init(format: LogFormat, filter: &str) {
    let mut filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    if !filter.to_string().contains("actix_http") {
        if let Ok(directive) = CLIENT_PARSE_ERRORS_OFF.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
