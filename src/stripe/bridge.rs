//! Which Stripe the service talks to, decided at start: the admin's platform keys and
//! Stripe's hosts (or the `STRIPE_API_BASE`/`STRIPE_CONNECT_BASE` overrides), or, when no
//! key is configured, the sandbox emulator with generated credentials.

use url::Url;

use crate::config::StripeSettings;
use crate::crypto::{mask_secret, SecretBox};
use crate::events::Database;
use crate::stripe::client::{
    http_client, ClientConfig, StripeClient, STRIPE_API_BASE, STRIPE_CONNECT_BASE,
};
use crate::stripe::error::{StripeError, StripeErrorKind};
use crate::stripe::platform_settings::{self, SecretKey};

/// Credentials the sandbox generates for itself at start.
#[derive(Clone)]
pub struct SandboxCredentials {
    pub secret_key: SecretKey,
    pub publishable_key: String,
    pub connect_client_id: String,
    pub webhook_secret: String,
    /// The emulator's base URL (it serves both the API and the Connect host).
    pub base_url: Url,
}

impl std::fmt::Debug for SandboxCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxCredentials")
            .field("secret_key", &self.secret_key)
            .field("connect_client_id", &self.connect_client_id)
            .field("webhook_secret", &mask_secret(&self.webhook_secret))
            .field("base_url", &self.base_url.as_str())
            .finish()
    }
}

/// The credentials in effect: what the client signs with and webhooks are checked with.
#[derive(Clone)]
pub struct EffectiveCredentials {
    pub secret_key: SecretKey,
    pub publishable_key: String,
    pub connect_client_id: String,
    pub webhook_secrets: Vec<String>,
    pub api_base: Url,
    pub connect_base: Url,
}

impl std::fmt::Debug for EffectiveCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<String> = self
            .webhook_secrets
            .iter()
            .map(|s| mask_secret(s))
            .collect();
        f.debug_struct("EffectiveCredentials")
            .field("secret_key", &self.secret_key)
            .field("publishable_key", &self.publishable_key)
            .field("connect_client_id", &self.connect_client_id)
            .field("webhook_secrets", &secrets)
            .field("api_base", &self.api_base.as_str())
            .field("connect_base", &self.connect_base.as_str())
            .finish()
    }
}

impl EffectiveCredentials {
    /// Live or test, from the secret key.
    pub fn livemode(&self) -> bool {
        self.secret_key.mode().is_live()
    }
}

#[derive(Debug, Clone)]
pub struct StripeBridge {
    settings: StripeSettings,
    sandbox: Option<SandboxCredentials>,
    /// One connection pool for every call to Stripe (a client per call would open a
    /// new connection, and a TLS handshake, every time).
    http: reqwest::Client,
}

#[expect(
    clippy::expect_used,
    reason = "the defaults are literals, which the test default_stripe_hosts_are_urls parses"
)]
fn base(configured: &Option<Url>, default: &'static str) -> Url {
    configured
        .clone()
        .unwrap_or_else(|| Url::parse(default).expect("the default Stripe hosts are valid URLs"))
}

impl StripeBridge {
    pub fn new(
        settings: StripeSettings,
        sandbox: Option<SandboxCredentials>,
    ) -> Result<Self, reqwest::Error> {
        let timeout = std::time::Duration::from_secs(settings.request_timeout_seconds);
        let http = http_client(timeout)?;
        Ok(Self {
            settings,
            sandbox,
            http,
        })
    }

    pub fn is_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    pub fn sandbox_credentials(&self) -> Option<&SandboxCredentials> {
        self.sandbox.as_ref()
    }

    /// The current credentials. Outside the sandbox they are read from the platform
    /// settings each time, so an admin's new key or webhook secret applies at once.
    pub async fn credentials(
        &self,
        db: &Database,
        secret_box: &SecretBox,
    ) -> Result<EffectiveCredentials, StripeError> {
        let stored = platform_settings::credentials(db, secret_box)
            .await
            .map_err(|e| StripeError::new(StripeErrorKind::NotConfigured, e.to_string()))?;
        if let Some(sandbox) = &self.sandbox {
            // Secrets an admin added still verify, beside the sandbox's own.
            let mut webhook_secrets = vec![sandbox.webhook_secret.clone()];
            if let Some(stored) = stored {
                webhook_secrets.extend(stored.webhook_secrets);
            }
            return Ok(EffectiveCredentials {
                secret_key: sandbox.secret_key.clone(),
                publishable_key: sandbox.publishable_key.clone(),
                connect_client_id: sandbox.connect_client_id.clone(),
                webhook_secrets,
                api_base: sandbox.base_url.clone(),
                connect_base: sandbox.base_url.clone(),
            });
        }
        let stored = stored.ok_or_else(|| {
            StripeError::new(
                StripeErrorKind::NotConfigured,
                "Stripe is not configured: an admin must enter the platform keys under Admin → Stripe settings",
            )
        })?;
        Ok(EffectiveCredentials {
            secret_key: stored.secret_key,
            publishable_key: stored.publishable_key,
            connect_client_id: stored.connect_client_id,
            webhook_secrets: stored.webhook_secrets,
            api_base: base(&self.settings.api_base, STRIPE_API_BASE),
            connect_base: base(&self.settings.connect_base, STRIPE_CONNECT_BASE),
        })
    }

    /// A client for the credentials in effect.
    pub async fn client(
        &self,
        db: &Database,
        secret_box: &SecretBox,
    ) -> Result<StripeClient, StripeError> {
        let credentials = self.credentials(db, secret_box).await?;
        let mut config = ClientConfig::new(
            credentials.api_base,
            credentials.connect_base,
            &self.settings.api_version,
            credentials.secret_key,
            &credentials.connect_client_id,
        );
        config.timeout = std::time::Duration::from_secs(self.settings.request_timeout_seconds);
        config.max_retries = self.settings.max_retries;
        Ok(StripeClient::with_http(self.http.clone(), config))
    }

    pub fn webhook_tolerance_seconds(&self) -> i64 {
        self.settings.webhook_tolerance_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_stripe_hosts_are_urls() {
        assert_eq!(
            base(&None, STRIPE_API_BASE).as_str(),
            "https://api.stripe.com/"
        );
        assert_eq!(
            base(&None, STRIPE_CONNECT_BASE).as_str(),
            "https://connect.stripe.com/"
        );
    }

    #[test]
    fn debug_output_masks_every_secret() {
        let credentials = EffectiveCredentials {
            secret_key: SecretKey::parse("sk_test_51abcdefghijklmnopqrstuvwxyz").expect("key"),
            publishable_key: "pk_test_1".into(),
            connect_client_id: "ca_1".into(),
            webhook_secrets: vec!["whsec_abcdefghijklmnopqrstuvwxyz".into()],
            api_base: Url::parse("https://api.stripe.com").expect("url"),
            connect_base: Url::parse("https://connect.stripe.com").expect("url"),
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("abcdefghijklmnop"), "{shown}");
        assert!(!credentials.livemode());
    }
}
