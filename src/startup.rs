//! Wiring: settings in, a running server out. Tests start exactly this (on port 0).

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{time::Duration as CookieDuration, Key, SameSite};
use actix_web::dev::{Server, Service};
use actix_web::http::ConnectionType;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{App, HttpServer};
use stripe_emulator::{EmulatorConfig, EmulatorHandle};

use crate::accounts::sessions::Sessions;
use crate::audit::AuditLog;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{MasterKeySource, Settings};
use crate::crypto::{CredentialHasher, CryptoError, MasterKey, SecretBox};
use crate::customers::{CacheFromWebhooks, Customers};
use crate::db::{DatabaseOptions, DbError};
use crate::error::{BoxError, Internal};
use crate::events::{Database, EventBus};
use crate::maintenance::Maintenance;
use crate::oauth::{keys, OAuthContext};
use crate::stripe::bridge::{SandboxCredentials, StripeBridge};
use crate::stripe::connect::{self, Connections};
use crate::stripe::inbox::WebhookInbox;
use crate::stripe::platform_settings::{self, SecretKey};
use crate::web::rate_limits::RateLimits;
use crate::web::{self, AppState};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Key(#[from] CryptoError),
    #[error("database {url}")]
    Database { url: String, source: DbError },
    #[error("cannot listen on {address}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    /// Anything else that stopped start-up, with its cause and the line it came from.
    #[error(transparent)]
    Other(Internal),
}

impl StartupError {
    #[track_caller]
    pub fn other(cause: impl Into<BoxError>) -> Self {
        StartupError::Other(Internal::new(cause))
    }
}

/// Loads the master key from settings (inline or key file).
pub fn load_master_key(settings: &Settings) -> Result<MasterKey, StartupError> {
    Ok(match &settings.master_key {
        MasterKeySource::Inline(key) => key.clone(),
        MasterKeySource::File(path) => MasterKey::load_or_create(path)?,
    })
}

/// The event bus with every subscriber the service runs.
pub fn event_bus() -> EventBus {
    EventBus::new().subscribe(AuditLog)
}

/// Connects (and migrates) the database named in the settings.
pub fn open_database(settings: &Settings) -> Result<Database, StartupError> {
    let options = DatabaseOptions {
        pool_size: settings.database_pool_size,
        sqlite_synchronous: settings.sqlite_synchronous,
    };
    Database::open(&settings.database_url, options, event_bus()).map_err(|source| {
        StartupError::Database {
            url: settings.database_url.to_string(),
            source,
        }
    })
}

pub struct Application {
    server: Server,
    /// Set at SIGTERM: every answer from then on closes its connection.
    draining: Arc<AtomicBool>,
    port: u16,
    /// `/metrics` on its own listener (`METRICS_ADDRESS`), and that listener's port.
    metrics: Option<(Server, u16)>,
    state: AppState,
    /// The emulator started in sandbox mode; the web layer only links to it.
    stripe_emulator: Option<EmulatorHandle>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        clock: SharedClock,
    ) -> Result<Self, StartupError> {
        let master_key = load_master_key(&settings)?;
        // Installs the process's metrics recorder before anything records.
        crate::telemetry::metrics();
        let db_settings = settings.clone();
        let db = tokio::task::spawn_blocking(move || open_database(&db_settings))
            .await
            .map_err(|e| StartupError::other(e))??;
        let secret_box = SecretBox::new(&master_key);
        let sandbox = platform_settings::credentials(&db, &secret_box)
            .await
            .map_err(|e| StartupError::other(e))?
            .is_none();

        let listener =
            TcpListener::bind(settings.bind_address).map_err(|source| StartupError::Bind {
                address: settings.bind_address.to_string(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::other(e))?
            .port();
        let metrics_listener = settings
            .telemetry
            .metrics_address
            .map(|address| {
                TcpListener::bind(address).map_err(|source| StartupError::Bind {
                    address: address.to_string(),
                    source,
                })
            })
            .transpose()?;

        let mut settings = settings;
        if settings.public_url.port() == Some(0) {
            // PUBLIC_URL was derived from a port-0 BIND_ADDRESS: name the real port.
            let _ = settings.public_url.set_port(Some(port));
        }
        let credential_hasher = CredentialHasher::new(&master_key);
        let oauth = OAuthContext::new(&settings, credential_hasher.clone(), secret_box.clone());
        prepare_signing_keys(&db, &oauth, clock.now()).await?;
        let (sandbox_credentials, stripe_emulator) = if sandbox {
            let (credentials, emulator) = start_sandbox(&settings, clock.clone())?;
            (Some(credentials), Some(emulator))
        } else {
            (None, None)
        };
        let stripe = StripeBridge::new(settings.stripe.clone(), sandbox_credentials)
            .map_err(|e| StartupError::other(e))?;
        let customers = Customers {
            db: db.clone(),
            clock: clock.clone(),
            bridge: stripe.clone(),
            secret_box: secret_box.clone(),
            refresh_after_seconds: settings.customers_refresh_after_seconds,
        };
        let connections = Connections {
            db: db.clone(),
            clock: clock.clone(),
            hasher: credential_hasher.clone(),
            secret_box: secret_box.clone(),
            bridge: stripe.clone(),
            redirect_uri: connect::redirect_uri(&settings.issuer()),
        };
        let webhooks = WebhookInbox::new(
            db.clone(),
            clock.clone(),
            stripe.clone(),
            secret_box.clone(),
        )
        .with_handler(CacheFromWebhooks);
        let sessions = Sessions::new(
            db.clone(),
            clock.clone(),
            credential_hasher.clone(),
            settings.sessions,
        );
        let rate_limits = Arc::new(RateLimits::new(&settings.rate_limits));
        spawn_forgetting_full_buckets(rate_limits.clone());
        let state = AppState {
            rate_limits,
            sessions,
            db,
            clock,
            credential_hasher,
            customers,
            connections,
            webhooks,
            stripe,
            sandbox_dashboard_url: stripe_emulator.as_ref().map(EmulatorHandle::dashboard_url),
            secret_box,
            settings: Arc::new(settings),
            sandbox,
            oauth,
        };
        let draining = Arc::new(AtomicBool::new(false));
        let server = run(listener, state.clone(), &master_key, draining.clone())?;
        let metrics = match metrics_listener {
            Some(listener) => Some(run_metrics(listener, state.clone())?),
            None => None,
        };
        Maintenance::new(
            state.db.clone(),
            state.oauth.clone(),
            state.sessions.clone(),
            &state.settings,
        )
        .spawn(
            state.clock.clone(),
            std::time::Duration::from_secs(state.settings.oauth.cleanup_interval_seconds),
        );
        Ok(Self {
            server,
            draining,
            port,
            metrics,
            state,
            stripe_emulator,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, when `METRICS_ADDRESS` gave it one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The Stripe emulator in sandbox mode (`None` once platform keys are configured):
    /// its address for the start-up message, and its control surface for tests.
    pub fn stripe_emulator(&self) -> Option<&EmulatorHandle> {
        self.stripe_emulator.as_ref()
    }

    /// Serves until the process ends (tests stop it by dropping it).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            Some((metrics, _)) => {
                let (served, _) = tokio::join!(self.server, metrics);
                served
            }
            None => self.server.await,
        }
    }

    /// Serves until `shutdown` completes, then drains: the listener closes at once (new
    /// connections are refused), requests already accepted are finished and each
    /// answer from then on closes its connection (a kept-alive connection carries no
    /// new request), for up to `SHUTDOWN_TIMEOUT_SECONDS` (10 by default); then the
    /// workers stop, and this returns.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = self.server;
        // The metrics listener runs beside the server and stops with it.
        let metrics = self.metrics.map(|(metrics, _)| {
            let handle = metrics.handle();
            actix_web::rt::spawn(metrics);
            handle
        });
        tokio::pin!(server);
        let outcome = tokio::select! {
            outcome = &mut server => outcome,
            () = shutdown => {
                tracing::info!("shutting down gracefully");
                self.draining.store(true, Ordering::Relaxed);
                // `stop` sends the command at once; the server future, polled below,
                // carries it out and completes when the workers are done.
                drop(handle.stop(true));
                server.await
            }
        };
        if let Some(metrics) = metrics {
            metrics.stop(false).await;
        }
        outcome
    }
}

/// Completes at the first SIGTERM or SIGINT. The handlers are installed when this is
/// called, so a signal that arrives before the server runs is not lost.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Creates the first signing key when none exists, then loads the published keys.
async fn prepare_signing_keys(
    db: &Database,
    oauth: &Arc<OAuthContext>,
    now: i64,
) -> Result<(), StartupError> {
    let oauth = oauth.clone();
    db.write(move |tx| {
        let alg = oauth.settings.signing_algorithm;
        if let Some(kid) = keys::ensure_key(tx.conn, oauth.keys.secret_box(), alg, now)? {
            tracing::info!(%kid, algorithm = keys::algorithm_name(alg), "generated an access-token signing key");
        }
        oauth
            .keys
            .reload(tx.conn, now, oauth.settings.access_token_ttl_seconds)?;
        Ok::<_, keys::KeyError>(())
    })
    .await
    .map_err(|e| StartupError::other(e))
}

/// Starts the Stripe emulator with freshly generated platform credentials, sending its
/// webhooks to this service and accepting only this service's Connect callback.
fn start_sandbox(
    settings: &Settings,
    clock: SharedClock,
) -> Result<(SandboxCredentials, EmulatorHandle), StartupError> {
    let secret_key = SecretKey::parse(&stripe_emulator::new_id("sk_test", 32))
        .map_err(|e| StartupError::other(e))?;
    let connect_client_id = stripe_emulator::new_id("ca", 32);
    let webhook_secret = stripe_emulator::new_id("whsec", 32);
    let issuer = settings.issuer();
    let webhook_url = url::Url::parse(&format!("{issuer}/webhooks/stripe"))
        .map_err(|e| StartupError::other(e))?;
    let emulator = stripe_emulator::spawn(EmulatorConfig {
        bind: settings.stripe.sandbox_address,
        secret_key: secret_key.expose().to_owned(),
        connect_client_id: connect_client_id.clone(),
        webhook_secrets: vec![webhook_secret.clone()],
        webhook_url: Some(webhook_url),
        redirect_uris: vec![connect::redirect_uri(&issuer)],
        clock,
    })
    .map_err(|source| StartupError::Bind {
        address: settings.stripe.sandbox_address.to_string(),
        source,
    })?;
    let credentials = SandboxCredentials {
        secret_key,
        publishable_key: stripe_emulator::new_id("pk_test", 32),
        connect_client_id,
        webhook_secret,
        base_url: emulator.base_url().clone(),
    };
    Ok((credentials, emulator))
}

/// Keeps the rate limiter's memory to the senders of the last minute or so.
fn spawn_forgetting_full_buckets(limits: Arc<RateLimits>) {
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            limits.forget_full_buckets();
        }
    });
}

fn run(
    listener: TcpListener,
    state: AppState,
    master_key: &MasterKey,
    draining: Arc<AtomicBool>,
) -> Result<Server, StartupError> {
    let cookie_key = Key::from(&master_key.derive_64("session-cookie"));
    let serves_https = state.settings.serves_https();
    let session_ttl = state.settings.sessions.lifetime_seconds;
    // Database work on PostgreSQL (and password hashing) runs on each worker's blocking
    // pool. More threads than pooled connections only wait for one, and each idle
    // thread keeps its own allocator pages (tokio's default allows 512).
    let blocking_threads = state.settings.database_pool_size as usize + 4;
    let metrics_on_public_listener = state.settings.telemetry.metrics_address.is_none();
    let shutdown_timeout = state.settings.shutdown_timeout_seconds;
    let data = actix_web::web::Data::new(state);
    let server = HttpServer::new(move || {
        let sessions =
            SessionMiddleware::builder(CookieSessionStore::default(), cookie_key.clone())
                .cookie_name("bk_session".into())
                .cookie_content_security(CookieContentSecurity::Private)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_secure(serves_https)
                .session_lifecycle(
                    PersistentSession::default().session_ttl(CookieDuration::seconds(session_ttl)),
                )
                .build();
        App::new()
            .app_data(data.clone())
            .app_data(web::limits::query_config())
            .app_data(web::limits::path_config())
            .wrap(from_fn(web::limits::enforce))
            .wrap(sessions)
            .wrap(web::middleware::security_headers(serves_https))
            .wrap(Compress::default())
            .wrap(from_fn(web::middleware::compress_public_answers_only))
            .wrap(from_fn(web::middleware::api_cors))
            .wrap(from_fn(web::middleware::observe_requests))
            .configure(|cfg| {
                web::configure(cfg);
                if metrics_on_public_listener {
                    web::metrics::configure(cfg);
                }
            })
            .default_service(actix_web::web::to(web::middleware::not_found))
            // Outermost, so that every answer during the drain (errors too) closes its
            // connection.
            .wrap_fn({
                let draining = draining.clone();
                move |request, service| {
                    let answer = service.call(request);
                    let draining = draining.clone();
                    async move {
                        let mut answer = answer.await?;
                        if draining.load(Ordering::Relaxed) {
                            answer
                                .response_mut()
                                .head_mut()
                                .set_connection_type(ConnectionType::Close);
                        }
                        Ok(answer)
                    }
                }
            })
    })
    // After SIGTERM: the listener closes at once (new connections are refused), requests
    // already accepted get this long to finish, and then the workers stop.
    .shutdown_timeout(shutdown_timeout)
    .client_request_timeout(web::limits::HEADER_TIMEOUT)
    .worker_max_blocking_threads(blocking_threads)
    // Signals are handled by `shutdown_signal`, installed before start-up output.
    .disable_signals()
    .listen(listener)
    .map_err(|e| StartupError::other(e))?
    .run();
    Ok(server)
}

/// `/metrics` alone on its own listener, off the public one: one worker is plenty for
/// a scrape every few seconds.
fn run_metrics(listener: TcpListener, state: AppState) -> Result<(Server, u16), StartupError> {
    let port = listener
        .local_addr()
        .map_err(|e| StartupError::other(e))?
        .port();
    let data = actix_web::web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(web::metrics::configure)
    })
    .workers(1)
    .shutdown_timeout(1)
    .disable_signals()
    .listen(listener)
    .map_err(|e| StartupError::other(e))?
    .run();
    Ok((server, port))
}
