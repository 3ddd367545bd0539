//! Typed settings, read once at start-up from the environment (and `.env`, loaded by the
//! binary). Every variable is documented in `docs/configuration.md`; an invalid value
//! stops start-up with a message naming the variable and the forms it accepts.

use std::net::SocketAddr;
use std::path::PathBuf;

use url::Url;

use crate::crypto::MasterKey;
use crate::db::{DatabaseUrl, Synchronous};

#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?} is not valid: expected {expected}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub expected: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub enum MasterKeySource {
    Inline(MasterKey),
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind_address: SocketAddr,
    /// The address people and programs use to reach us; also the OAuth issuer.
    pub public_url: Url,
    pub database_url: DatabaseUrl,
    pub database_pool_size: u32,
    /// When a SQLite commit reaches the disk (`SQLITE_SYNCHRONOUS`).
    pub sqlite_synchronous: Synchronous,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout_seconds: u64,
    pub data_dir: PathBuf,
    pub master_key: MasterKeySource,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub sessions: SessionSettings,
    /// Audit lines older than this many days are removed.
    pub audit_retention_days: i64,
    /// How long a request's body may take to arrive once its headers did.
    pub request_body_timeout_seconds: u64,
    /// Take the client IP from `X-Forwarded-For` (only behind a proxy you control).
    pub trust_proxy_headers: bool,
    /// How many proxies of yours append to `X-Forwarded-For`: the client IP is the hop
    /// this many places from the right (see `web::client_ip`).
    pub trusted_proxy_hops: usize,
    pub login_throttle: ThrottleSettings,
    pub rate_limits: RateLimitSettings,
    pub oauth: OAuthSettings,
    pub stripe: StripeSettings,
    /// A cached customer older than this is re-read from Stripe when it is read alone.
    pub customers_refresh_after_seconds: i64,
    pub telemetry: TelemetrySettings,
}

/// Where metrics are served and where traces go.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// `/metrics` on a listener of its own at this address; `None` serves it on the
    /// public listener.
    pub metrics_address: Option<SocketAddr>,
    /// When set, a scrape must send `Authorization: Bearer <token>`.
    pub metrics_bearer_token: Option<MetricsToken>,
    /// The OTLP/HTTP collector's base URL (`/v1/traces` is appended); `None` exports
    /// no traces.
    pub otlp_endpoint: Option<Url>,
    /// `service.name` on exported traces.
    pub service_name: String,
}

/// The bearer token a scrape of `/metrics` must present; never printed.
#[derive(Clone)]
pub struct MetricsToken(String);

impl MetricsToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(hidden)")
    }
}

/// Request budgets per instance (see `web::rate_limits`); 0 turns one off.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitSettings {
    pub oauth_per_ip_per_minute: u32,
    pub oauth_per_client_per_minute: u32,
    pub login_per_ip_per_minute: u32,
    pub signup_per_ip_per_hour: u32,
}

/// How long a login lasts (see `accounts::sessions`).
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// From login, whatever the use.
    pub lifetime_seconds: i64,
    /// Without a request.
    pub idle_seconds: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    pub max_failures_per_account: i64,
    pub max_failures_per_ip: i64,
    pub window_seconds: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    EdDsa,
    Es256,
}

#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub access_token_ttl_seconds: i64,
    pub authorization_code_ttl_seconds: i64,
    pub refresh_token_idle_ttl_seconds: i64,
    pub refresh_token_absolute_ttl_seconds: i64,
    pub signing_algorithm: SigningAlgorithm,
    /// Failed client authentications allowed per (client, IP) in the throttle window.
    pub max_client_auth_failures: i64,
    /// Failed client authentications allowed per IP, whatever the client.
    pub max_client_auth_failures_per_ip: i64,
    pub cleanup_interval_seconds: u64,
}

#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// Where the REST API lives; `None` means Stripe's own (or the sandbox's when in sandbox mode).
    pub api_base: Option<Url>,
    /// Where Connect OAuth lives; `None` as above.
    pub connect_base: Option<Url>,
    pub api_version: String,
    pub webhook_tolerance_seconds: i64,
    pub request_timeout_seconds: u64,
    pub max_retries: u32,
    /// Where the sandbox emulator listens when no platform key is configured.
    pub sandbox_address: SocketAddr,
}

pub const DEFAULT_STRIPE_API_VERSION: &str = "2026-10-28.endive";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let bind_address: SocketAddr = env.parse(
            "BIND_ADDRESS",
            "127.0.0.1:8000",
            "an IP address and port, e.g. 127.0.0.1:8000",
        )?;
        let public_url = match env.get("PUBLIC_URL") {
            Some(raw) => parse_base_url("PUBLIC_URL", &raw)?,
            None => parse_base_url("BIND_ADDRESS", &format!("http://{bind_address}"))?,
        };
        let data_dir = PathBuf::from(env.get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = {
            let raw = env.get("DATABASE_URL").unwrap_or_else(|| {
                format!("sqlite://{}", data_dir.join("bridgekeeper.db").display())
            });
            DatabaseUrl::parse(&raw).map_err(|why| ConfigError {
                variable: "DATABASE_URL",
                value: raw.clone(),
                expected: format!("sqlite://PATH or postgres://USER@HOST:PORT/DATABASE ({why})"),
            })?
        };
        let master_key = match env.get("MASTER_KEY") {
            Some(raw) => {
                MasterKeySource::Inline(MasterKey::from_base64(&raw).map_err(|e| ConfigError {
                    variable: "MASTER_KEY",
                    value: "(hidden)".into(),
                    expected: format!(
                        "standard base64 of 32 random bytes, e.g. from `openssl rand -base64 32` ({e})"
                    ),
                })?)
            }
            None => MasterKeySource::File(
                env.get("MASTER_KEY_FILE")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| data_dir.join("master.key")),
            ),
        };
        let log_format = match env.get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    variable: "LOG_FORMAT",
                    value: other.into(),
                    expected: "`text` or `json`".into(),
                })
            }
        };
        let signing_algorithm = match env.get("OAUTH_SIGNING_ALGORITHM").as_deref() {
            None | Some("EdDSA") => SigningAlgorithm::EdDsa,
            Some("ES256") => SigningAlgorithm::Es256,
            Some(other) => {
                return Err(ConfigError {
                    variable: "OAUTH_SIGNING_ALGORITHM",
                    value: other.into(),
                    expected: "`EdDSA` (Ed25519) or `ES256`".into(),
                })
            }
        };
        let sqlite_synchronous = match env.get("SQLITE_SYNCHRONOUS") {
            None => Synchronous::Full,
            Some(raw) => Synchronous::parse(&raw).ok_or_else(|| ConfigError {
                variable: "SQLITE_SYNCHRONOUS",
                value: raw.clone(),
                expected: "`full` (every commit synced before it is answered) or `normal` \
                           (synced at checkpoints: the last commits can be lost on power loss)"
                    .into(),
            })?,
        };
        let optional_url = |name: &'static str| -> Result<Option<Url>, ConfigError> {
            env.get(name)
                .map(|raw| parse_base_url(name, &raw))
                .transpose()
        };
        Ok(Self {
            bind_address,
            public_url,
            database_url,
            database_pool_size: env.number("DATABASE_POOL_SIZE", 8, 1, 512)?,
            sqlite_synchronous,
            shutdown_timeout_seconds: env.number("SHUTDOWN_TIMEOUT_SECONDS", 10, 1, 3600)?,
            data_dir,
            master_key,
            log_format,
            log_filter: env.get("LOG_LEVEL").unwrap_or_else(|| "info".into()),
            request_body_timeout_seconds: env.number("REQUEST_BODY_TIMEOUT_SECONDS", 10, 1, 300)?,
            audit_retention_days: env.number("AUDIT_RETENTION_DAYS", 90, 1, 36_500)?,
            sessions: SessionSettings {
                lifetime_seconds: env.number("SESSION_TTL_SECONDS", 12 * 3600, 60, 90 * 86400)?,
                idle_seconds: env.number("SESSION_IDLE_SECONDS", 2 * 3600, 120, 90 * 86400)?,
            },
            trust_proxy_headers: env.boolean("TRUST_PROXY_HEADERS", false)?,
            trusted_proxy_hops: env.number("TRUSTED_PROXY_HOPS", 1, 1, 16)?,
            login_throttle: ThrottleSettings {
                max_failures_per_account: env.number(
                    "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                    5,
                    1,
                    1000,
                )?,
                max_failures_per_ip: env.number("LOGIN_MAX_FAILURES_PER_IP", 30, 1, 100_000)?,
                window_seconds: env.number("LOGIN_THROTTLE_WINDOW_SECONDS", 900, 1, 86400)?,
            },
            rate_limits: RateLimitSettings {
                oauth_per_ip_per_minute: env.number(
                    "RATE_LIMIT_OAUTH_PER_IP",
                    1200,
                    0,
                    10_000_000,
                )?,
                oauth_per_client_per_minute: env.number(
                    "RATE_LIMIT_OAUTH_PER_CLIENT",
                    12_000,
                    0,
                    10_000_000,
                )?,
                login_per_ip_per_minute: env.number(
                    "RATE_LIMIT_LOGIN_PER_IP",
                    60,
                    0,
                    10_000_000,
                )?,
                signup_per_ip_per_hour: env.number(
                    "RATE_LIMIT_SIGNUP_PER_IP",
                    10,
                    0,
                    10_000_000,
                )?,
            },
            oauth: OAuthSettings {
                access_token_ttl_seconds: env.number(
                    "OAUTH_ACCESS_TOKEN_TTL_SECONDS",
                    900,
                    30,
                    86400,
                )?,
                authorization_code_ttl_seconds: env.number("OAUTH_CODE_TTL_SECONDS", 60, 5, 600)?,
                refresh_token_idle_ttl_seconds: env.number(
                    "OAUTH_REFRESH_IDLE_TTL_SECONDS",
                    14 * 86400,
                    60,
                    365 * 86400,
                )?,
                refresh_token_absolute_ttl_seconds: env.number(
                    "OAUTH_REFRESH_ABSOLUTE_TTL_SECONDS",
                    90 * 86400,
                    60,
                    3 * 365 * 86400,
                )?,
                signing_algorithm,
                max_client_auth_failures: env.number(
                    "OAUTH_MAX_CLIENT_AUTH_FAILURES",
                    10,
                    1,
                    10_000,
                )?,
                max_client_auth_failures_per_ip: env.number(
                    "OAUTH_MAX_CLIENT_AUTH_FAILURES_PER_IP",
                    30,
                    1,
                    100_000,
                )?,
                cleanup_interval_seconds: env.number(
                    "OAUTH_CLEANUP_INTERVAL_SECONDS",
                    300,
                    1,
                    86400,
                )?,
            },
            customers_refresh_after_seconds: env.number(
                "CUSTOMERS_REFRESH_AFTER_SECONDS",
                3600,
                0,
                30 * 86400,
            )?,
            telemetry: TelemetrySettings {
                metrics_address: env
                    .get("METRICS_ADDRESS")
                    .map(|raw| {
                        raw.trim().parse().map_err(|_| ConfigError {
                            variable: "METRICS_ADDRESS",
                            value: raw.clone(),
                            expected: "an IP address and port, e.g. 127.0.0.1:9100".into(),
                        })
                    })
                    .transpose()?,
                metrics_bearer_token: env
                    .get("METRICS_BEARER_TOKEN")
                    .map(|raw| metrics_token(raw.trim()))
                    .transpose()?,
                otlp_endpoint: optional_url("OTEL_EXPORTER_OTLP_ENDPOINT")?,
                service_name: env
                    .get("OTEL_SERVICE_NAME")
                    .unwrap_or_else(|| "bridgekeeper".into()),
            },
            stripe: StripeSettings {
                api_base: optional_url("STRIPE_API_BASE")?,
                connect_base: optional_url("STRIPE_CONNECT_BASE")?,
                api_version: env
                    .get("STRIPE_API_VERSION")
                    .unwrap_or_else(|| DEFAULT_STRIPE_API_VERSION.into()),
                webhook_tolerance_seconds: env.number(
                    "STRIPE_WEBHOOK_TOLERANCE_SECONDS",
                    300,
                    1,
                    86400,
                )?,
                request_timeout_seconds: env.number("STRIPE_TIMEOUT_SECONDS", 20, 1, 300)?,
                max_retries: env.number("STRIPE_MAX_RETRIES", 2, 0, 10)?,
                sandbox_address: env.parse(
                    "SANDBOX_STRIPE_ADDRESS",
                    "127.0.0.1:8001",
                    "an IP address and port, e.g. 127.0.0.1:8001 (port 0 picks a free one)",
                )?,
            },
        })
    }

    /// Cookies get `Secure` when people reach us over https.
    pub fn serves_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The OAuth issuer identifier: the public URL without a trailing slash.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }
}

/// A scrape token long enough not to be guessed, in characters a header carries as is.
fn metrics_token(raw: &str) -> Result<MetricsToken, ConfigError> {
    let printable = raw.bytes().all(|b| b.is_ascii_graphic());
    if raw.len() < 16 || !printable {
        return Err(ConfigError {
            variable: "METRICS_BEARER_TOKEN",
            value: "(hidden)".into(),
            expected: "at least 16 visible ASCII characters, e.g. from `openssl rand -hex 32`"
                .into(),
        });
    }
    Ok(MetricsToken(raw.to_owned()))
}

fn parse_base_url(variable: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let bad = |why: &str| ConfigError {
        variable,
        value: raw.into(),
        expected: format!("an absolute http(s) URL such as https://auth.example.com ({why})"),
    };
    let url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("no query or fragment"));
    }
    Ok(url)
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// A set, non-blank value.
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn parse<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: &str,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let raw = self.get(name).unwrap_or_else(|| default.into());
        raw.trim().parse().map_err(|_| ConfigError {
            variable: name,
            value: raw.clone(),
            expected: expected.into(),
        })
    }

    fn number<T>(&self, name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let expected = || format!("a whole number from {min} to {max}");
        let value: T = raw.trim().parse().map_err(|_| ConfigError {
            variable: name,
            value: raw.clone(),
            expected: expected(),
        })?;
        if value < min || value > max {
            return Err(ConfigError {
                variable: name,
                value: raw,
                expected: expected(),
            });
        }
        Ok(value)
    }

    fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self
            .get(name)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(ConfigError {
                variable: name,
                value: other.into(),
                expected: "true or false".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_run_on_sqlite_on_loopback() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.bind_address.to_string(), "127.0.0.1:8000");
        assert_eq!(
            s.database_url,
            DatabaseUrl::Sqlite("./data/bridgekeeper.db".into())
        );
        assert_eq!(s.issuer(), "http://127.0.0.1:8000");
        assert!(!s.serves_https());
    }

    #[test]
    fn sqlite_commits_are_synced_unless_normal_is_asked_for() {
        assert_eq!(
            settings(&[]).expect("defaults").sqlite_synchronous,
            Synchronous::Full
        );
        assert_eq!(
            settings(&[("SQLITE_SYNCHRONOUS", "NORMAL")])
                .expect("normal")
                .sqlite_synchronous,
            Synchronous::Normal
        );
        let err = settings(&[("SQLITE_SYNCHRONOUS", "off")]).expect_err("rejected");
        assert_eq!(err.variable, "SQLITE_SYNCHRONOUS");
    }

    #[test]
    fn bad_values_name_the_variable_and_the_accepted_forms() {
        let err = settings(&[("DATABASE_URL", "mysql://x")]).expect_err("rejected");
        assert_eq!(err.variable, "DATABASE_URL");
        assert!(err.to_string().contains("postgres://"), "{err}");

        let err = settings(&[("SESSION_TTL_SECONDS", "soon")]).expect_err("rejected");
        assert_eq!(err.variable, "SESSION_TTL_SECONDS");
        assert!(err.to_string().contains("whole number"), "{err}");

        let err = settings(&[("PUBLIC_URL", "ftp://x")]).expect_err("rejected");
        assert_eq!(err.variable, "PUBLIC_URL");

        let err = settings(&[("MASTER_KEY", "secret-value")]).expect_err("rejected");
        assert!(
            !err.to_string().contains("secret-value"),
            "a bad key is not echoed"
        );
    }

    #[test]
    fn metrics_and_traces_are_on_the_public_listener_and_off_by_default() {
        let s = settings(&[]).expect("defaults are valid");
        assert!(s.telemetry.metrics_address.is_none());
        assert!(s.telemetry.metrics_bearer_token.is_none());
        assert!(s.telemetry.otlp_endpoint.is_none());
        assert_eq!(s.telemetry.service_name, "bridgekeeper");
    }

    #[test]
    fn a_short_metrics_token_is_refused_without_being_echoed() {
        let err = settings(&[("METRICS_BEARER_TOKEN", "hunter2")]).expect_err("rejected");
        assert_eq!(err.variable, "METRICS_BEARER_TOKEN");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let s = settings(&[("METRICS_BEARER_TOKEN", "0123456789abcdef0123")]).expect("valid");
        let shown = format!("{:?}", s.telemetry);
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }

    #[test]
    fn public_url_sets_issuer_and_secure_cookies() {
        let s = settings(&[("PUBLIC_URL", "https://auth.example.com/")]).expect("valid");
        assert_eq!(s.issuer(), "https://auth.example.com");
        assert!(s.serves_https());
    }
}
