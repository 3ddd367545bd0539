use std::sync::Arc;

use crate::accounts::sessions::Sessions;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::crypto::{CredentialHasher, SecretBox};
use crate::customers::Customers;
use crate::events::Database;
use crate::oauth::OAuthContext;
use crate::stripe::bridge::StripeBridge;
use crate::stripe::connect::Connections;
use crate::stripe::inbox::WebhookInbox;
use crate::web::rate_limits::RateLimits;

/// What every handler can reach. Cloned per worker; everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub clock: SharedClock,
    pub settings: Arc<Settings>,
    pub secret_box: SecretBox,
    pub credential_hasher: CredentialHasher,
    /// True while no platform Stripe key is configured and the emulator stands in.
    pub sandbox: bool,
    /// The OAuth server's settings, hasher and signing keys.
    pub oauth: Arc<OAuthContext>,
    /// Which Stripe to talk to (the platform's keys, or the sandbox emulator's).
    pub stripe: StripeBridge,
    /// The emulator's merchant dashboard in sandbox mode (the Connect tab links to it).
    pub sandbox_dashboard_url: Option<String>,
    /// The customers API's use cases.
    pub customers: Customers,
    /// The Connect tab's use cases.
    pub connections: Connections,
    /// Stripe's webhook deliveries.
    pub webhooks: WebhookInbox,
    /// Logged-in browser sessions.
    pub sessions: Sessions,
    /// This instance's request budgets.
    pub rate_limits: Arc<RateLimits>,
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
