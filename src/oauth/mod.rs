//! The OAuth 2 authorization server: protocol rules with no HTTP types.
//!
//! Parsers (`params`, `authorize_request`, `token_request`, `pkce`, `redirect_uri`,
//! `scope`, `registration`) are pure; use cases (`clients`, `consent`, `token`,
//! `introspection`, `revocation`, `resource`, `cleanup`) run one transaction each
//! through [`crate::db::Database`] and publish a domain event for every issuance and
//! revocation. Credentials are stored only as keyed hashes
//! ([`crate::crypto::CredentialHasher`]); access tokens are JWTs (RFC 9068) whose
//! `jti` is recorded so they can be revoked before they expire.

pub mod access_token;
pub mod authorize_request;
pub mod cleanup;
pub mod client;
pub mod client_auth;
pub mod clients;
pub mod code;
pub mod consent;
pub mod cors;
pub mod error;
pub mod introspection;
pub mod issue;
pub mod keys;
pub mod metadata;
pub mod params;
pub mod pkce;
pub mod redirect_uri;
pub mod refresh_token;
pub mod registration;
pub mod resource;
pub mod revocation;
pub mod scope;
pub mod token;
pub mod token_request;

use std::sync::Arc;

pub use error::OAuthError;

use crate::config::{OAuthSettings, Settings};
use crate::crypto::{CredentialHasher, SecretBox};
use crate::events::{Actor, DomainEvent, OAuthEvent};

/// Throttle scope for failed client authentications per (client, IP); the subject is
/// [`client_auth::client_ip_subject`].
pub const CLIENT_IP_THROTTLE_SCOPE: &str = "oauth.client_ip";
/// Throttle scope for failed client authentications per IP, whatever the client.
pub const IP_THROTTLE_SCOPE: &str = "oauth.ip";

/// What the OAuth use cases need besides the database: settings, the credential
/// hasher and the signing keys. Shared by every worker of one instance.
pub struct OAuthContext {
    pub issuer: String,
    pub settings: OAuthSettings,
    /// The sliding window for client-authentication failures.
    pub throttle_window_seconds: i64,
    pub hasher: CredentialHasher,
    pub keys: keys::KeyRing,
    /// Access tokens whose signature was already checked (see the type).
    pub verified_tokens: access_token::VerifiedTokens,
    /// The browser origins clients registered (see the type).
    pub cors: cors::CorsOrigins,
}

/// How many verified access tokens an instance remembers (a few MiB at most).
const VERIFIED_TOKENS_REMEMBERED: usize = 10_000;

impl OAuthContext {
    pub fn new(settings: &Settings, hasher: CredentialHasher, secret_box: SecretBox) -> Arc<Self> {
        Arc::new(Self {
            issuer: settings.issuer(),
            settings: settings.oauth.clone(),
            throttle_window_seconds: settings.login_throttle.window_seconds,
            hasher,
            keys: keys::KeyRing::new(secret_box, settings.oauth.signing_algorithm),
            verified_tokens: access_token::VerifiedTokens::new(VERIFIED_TOKENS_REMEMBERED),
            cors: cors::CorsOrigins::new(),
        })
    }
}

/// A domain event for the audit log (it never carries credentials).
pub fn event(actor: &Actor, now: i64, event: OAuthEvent) -> DomainEvent {
    DomainEvent::new(actor.clone(), now, event)
}
