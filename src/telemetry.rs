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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter(filter))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
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
