//! The Connect rules: single-use `state` values, storing a connection, disconnecting.
//! Network calls happen outside database closures. (Stripe's webhooks, which may end a
//! connection, are `stripe::inbox`.)

use crate::clock::SharedClock;
use crate::crypto::{constant_time_eq, random_token, CredentialHasher, CryptoError, SecretBox};
use crate::db::customers;
use crate::db::stripe_connect_states::{self, NewConnectState};
use crate::db::stripe_connections::{self, ConnectionForm, StripeConnection};
use crate::db::types::{ConnectionStatus, RevokedBy, UserId};
use crate::db::DbError;
use crate::events::{Actor, Database, DomainEvent, StripeEvent};
use crate::stripe::bridge::StripeBridge;
use crate::stripe::client::StripeClient;
use crate::stripe::error::StripeError;
use crate::stripe::types::OAuthToken;

/// The Connect redirect URI registered for this service: `<public URL>/connect/stripe/callback`.
pub fn redirect_uri(issuer: &str) -> String {
    format!("{}/connect/stripe/callback", issuer.trim_end_matches('/'))
}

/// How long a `state` may wait for Stripe's redirect.
pub const STATE_TTL_SECONDS: i64 = 600;
/// Random bytes in a `state`.
pub const STATE_BYTES: usize = 32;

const ACCESS_TOKEN_CONTEXT: &str = "stripe_connections.access_token";
const REFRESH_TOKEN_CONTEXT: &str = "stripe_connections.refresh_token";

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("The link back from Stripe carried no state. Start again with Connect with Stripe.")]
    StateMissing,
    #[error(
        "This link back from Stripe is not one we issued. Start again with Connect with Stripe."
    )]
    StateUnknown,
    #[error("This link back from Stripe has expired (it is valid for 10 minutes). Start again with Connect with Stripe.")]
    StateExpired,
    #[error("This link back from Stripe was already used. Start again with Connect with Stripe.")]
    StateUsed,
    #[error("This link back from Stripe was started in another browser session. Start again with Connect with Stripe from this browser.")]
    StateOtherSession,
    #[error("Stripe did not connect your account: {description}")]
    Denied { code: String, description: String },
    #[error("This Stripe account ({account}) is already connected to another business here. Disconnect it there first, or connect a different Stripe account.")]
    AccountTaken { account: String },
    #[error("Your Stripe account is not connected.")]
    NotConnected,
    #[error("A Stripe account is already connected. Disconnect it first to connect another one.")]
    AlreadyConnected,
    /// No platform key is configured (or it cannot be read).
    #[error("{}", .0.public_message())]
    NotConfigured(#[source] Box<StripeError>),
    #[error("Stripe's answer carried neither a code nor an error. Start again with Connect with Stripe.")]
    NoCode,
    /// Stripe refused the code exchange (the code is spent either way).
    /// (Messages are [`StripeError::public_message`]: what happened, never the
    /// transport's text, which the source keeps for the log.)
    #[error("Stripe did not complete the connection. {} Start again with Connect with Stripe.", .0.public_message())]
    ExchangeFailed(#[source] Box<StripeError>),
    #[error("{}", .0.public_message())]
    Stripe(#[source] Box<StripeError>),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<StripeError> for ConnectError {
    fn from(e: StripeError) -> Self {
        ConnectError::Stripe(Box::new(e))
    }
}

impl From<diesel::result::Error> for ConnectError {
    fn from(e: diesel::result::Error) -> Self {
        ConnectError::Db(e.into())
    }
}

/// What the Connect use cases need besides their arguments.
#[derive(Clone)]
pub struct Connections {
    pub db: Database,
    pub clock: SharedClock,
    pub hasher: CredentialHasher,
    pub secret_box: SecretBox,
    pub bridge: StripeBridge,
    /// [`redirect_uri`] of this service's public URL.
    pub redirect_uri: String,
}

/// What Stripe's redirect back to `/connect/stripe/callback` carried.
#[derive(Debug, Clone, Copy, Default)]
pub struct Callback<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    pub error_description: Option<&'a str>,
}

/// The business starting the connection (Stripe's form is prefilled with it).
#[derive(Debug, Clone, Copy)]
pub struct Business<'a> {
    pub user_id: UserId,
    pub email: &'a str,
    pub name: &'a str,
}

impl Connections {
    async fn client(&self) -> Result<StripeClient, ConnectError> {
        self.bridge
            .client(&self.db, &self.secret_box)
            .await
            .map_err(|e| ConnectError::NotConfigured(Box::new(e)))
    }

    /// Connect with Stripe / Reconnect: a fresh single-use `state` bound to the business
    /// and to the browser session (`session_binding`, a value the caller keeps in the
    /// session), and the URL of Stripe's authorization page that carries it.
    pub async fn begin(
        &self,
        business: Business<'_>,
        session_binding: &str,
    ) -> Result<url::Url, ConnectError> {
        let client = self.client().await?;
        let state = begin(
            &self.db,
            &self.hasher,
            self.clock.now(),
            business.user_id,
            session_binding,
        )
        .await?;
        Ok(client.authorize_url(&self.redirect_uri, &state, business.email, business.name))
    }

    /// Stripe's redirect back, start to end: the `state` is checked and used up before
    /// anything else; a refusal comes back as [`ConnectError::Denied`] in Stripe's
    /// words; the code is exchanged exactly once (never retried: Stripe revokes a
    /// replayed code), outside any transaction; then the connection is stored with its
    /// tokens sealed (customers recorded in the account under an earlier connection of
    /// this business are attached again).
    pub async fn complete(
        &self,
        user_id: UserId,
        session_binding: Option<&str>,
        callback: Callback<'_>,
        actor: Actor,
    ) -> Result<Connected, ConnectError> {
        take_state(
            &self.db,
            &self.hasher,
            self.clock.now(),
            user_id,
            callback.state,
            session_binding,
        )
        .await?;
        if let Some(error) = callback.error {
            return Err(ConnectError::Denied {
                code: error.to_owned(),
                description: callback.error_description.unwrap_or(error).to_owned(),
            });
        }
        let code = callback
            .code
            .filter(|c| !c.is_empty())
            .ok_or(ConnectError::NoCode)?;
        let token = self
            .client()
            .await?
            .exchange_code(code)
            .await
            .map_err(|e| ConnectError::ExchangeFailed(Box::new(e)))?;
        store_connection(
            &self.db,
            &self.secret_box,
            self.clock.now(),
            user_id,
            token,
            actor,
        )
        .await
    }

    /// Revokes the platform's access at Stripe, then marks the connection revoked. A
    /// network failure changes nothing and is returned.
    pub async fn disconnect(
        &self,
        user_id: UserId,
        actor: Actor,
    ) -> Result<Disconnected, ConnectError> {
        let client = self.client().await?;
        disconnect(&self.db, &client, self.clock.now(), user_id, actor).await
    }

    pub async fn connection(
        &self,
        user_id: UserId,
    ) -> Result<Option<StripeConnection>, ConnectError> {
        connection(&self.db, user_id).await
    }
}

/// Creates a fresh single-use `state` bound to the business and to the browser session
/// (whose binding value the caller keeps in the session). Only hashes are stored.
async fn begin(
    db: &Database,
    hasher: &CredentialHasher,
    now: i64,
    user_id: UserId,
    session_binding: &str,
) -> Result<String, ConnectError> {
    let state = random_token(STATE_BYTES);
    let state_hash = hasher.hash(&state);
    let binding_hash = hasher.hash(session_binding);
    db.write(move |tx| {
        if stripe_connections::live_for_user(tx.conn, user_id)?.is_some() {
            return Err(ConnectError::AlreadyConnected);
        }
        stripe_connect_states::delete_expired(tx.conn, now - 86_400)?;
        stripe_connect_states::insert(
            tx.conn,
            &NewConnectState {
                state_hash: &state_hash,
                user_id,
                session_binding_hash: &binding_hash,
                created_at: now,
                expires_at: now + STATE_TTL_SECONDS,
            },
        )?;
        Ok(())
    })
    .await?;
    Ok(state)
}

/// Checks and consumes the `state` of a callback. Anything but a fresh, unused state of
/// this business and this session is refused, before any call to Stripe.
async fn take_state(
    db: &Database,
    hasher: &CredentialHasher,
    now: i64,
    user_id: UserId,
    state: Option<&str>,
    session_binding: Option<&str>,
) -> Result<(), ConnectError> {
    let state = state
        .filter(|s| !s.is_empty())
        .ok_or(ConnectError::StateMissing)?;
    let state_hash = hasher.hash(state);
    let binding_hash = session_binding.map(|b| hasher.hash(b));
    db.write(move |tx| {
        let row = stripe_connect_states::find_by_hash(tx.conn, &state_hash)?
            .ok_or(ConnectError::StateUnknown)?;
        let same_session = binding_hash
            .as_deref()
            .is_some_and(|b| constant_time_eq(b.as_bytes(), row.session_binding_hash.as_bytes()));
        if row.user_id != user_id || !same_session {
            return Err(ConnectError::StateOtherSession);
        }
        if row.used_at.is_some() {
            return Err(ConnectError::StateUsed);
        }
        if now >= row.expires_at {
            return Err(ConnectError::StateExpired);
        }
        if !stripe_connect_states::take(tx.conn, row.id, now)? {
            return Err(ConnectError::StateUsed);
        }
        Ok(())
    })
    .await
}

/// What storing a connection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The connected account's id (`acct_…`).
    pub account: String,
    /// Customers the business had recorded in this account under an earlier connection,
    /// attached to this one again (their copies are re-read from Stripe on the next read).
    pub reattached: usize,
}

/// Stores the connection Stripe granted (tokens sealed) as a new row, unless the account
/// is already connected to another business (or this business is already connected);
/// customers the business recorded in this account before are attached to it again.
async fn store_connection(
    db: &Database,
    secret_box: &SecretBox,
    now: i64,
    user_id: UserId,
    token: OAuthToken,
    actor: Actor,
) -> Result<Connected, ConnectError> {
    let access = token
        .access_token
        .as_deref()
        .map(|t| secret_box.seal(ACCESS_TOKEN_CONTEXT, t.as_bytes()))
        .transpose()?;
    let refresh = token
        .refresh_token
        .as_deref()
        .map(|t| secret_box.seal(REFRESH_TOKEN_CONTEXT, t.as_bytes()))
        .transpose()?;
    let account = token.stripe_user_id.clone();
    let stored = db
        .write(move |tx| {
            let others = stripe_connections::connected_to_account(tx.conn, &token.stripe_user_id)?;
            if others.iter().any(|c| c.user_id != user_id) {
                return Err(ConnectError::AccountTaken {
                    account: token.stripe_user_id.clone(),
                });
            }
            if stripe_connections::live_for_user(tx.conn, user_id)?.is_some() {
                return Err(ConnectError::AlreadyConnected);
            }
            let scope = token.scope.clone().unwrap_or_else(|| "read_write".into());
            let id = stripe_connections::insert(
                tx.conn,
                &ConnectionForm {
                    user_id,
                    stripe_user_id: &token.stripe_user_id,
                    livemode: token.livemode,
                    scope: &scope,
                    publishable_key: token.stripe_publishable_key.as_deref(),
                    access_token_sealed: access.as_deref(),
                    refresh_token_sealed: refresh.as_deref(),
                    status: ConnectionStatus::Connected,
                    connected_at: now,
                    revoked_at: None,
                    revoked_by: None,
                    updated_at: now,
                },
            )?;
            let reattached =
                customers::reattach_account(tx.conn, user_id, &token.stripe_user_id, id)?;
            tx.publish(DomainEvent::new(
                actor,
                now,
                StripeEvent::Connected {
                    account: token.stripe_user_id.clone(),
                    livemode: token.livemode,
                    scope,
                },
            ));
            Ok(Connected {
                account: token.stripe_user_id.clone(),
                reattached,
            })
        })
        .await;
    match stored {
        // Two callbacks raced past the checks above (PostgreSQL runs them side by side);
        // the partial unique indexes let one connection per business and per account
        // live. Say which.
        Err(ConnectError::Db(e)) if e.is_unique_violation() => {
            let mine = connection(db, user_id).await?;
            if mine.is_some_and(|c| c.status == ConnectionStatus::Connected) {
                Err(ConnectError::AlreadyConnected)
            } else {
                Err(ConnectError::AccountTaken { account })
            }
        }
        other => other,
    }
}

pub async fn connection(
    db: &Database,
    user_id: UserId,
) -> Result<Option<StripeConnection>, ConnectError> {
    db.read(move |conn| Ok(stripe_connections::find_for_user(conn, user_id)?))
        .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnected {
    /// Stripe confirmed the revocation.
    Revoked,
    /// Stripe said the account was no longer connected; marked revoked anyway.
    AlreadyDisconnected,
}

/// Revokes the platform's access at Stripe, then marks the connection revoked. A
/// network failure changes nothing and is returned.
async fn disconnect(
    db: &Database,
    client: &StripeClient,
    now: i64,
    user_id: UserId,
    actor: Actor,
) -> Result<Disconnected, ConnectError> {
    let current = connection(db, user_id)
        .await?
        .filter(|c| c.status == ConnectionStatus::Connected)
        .ok_or(ConnectError::NotConnected)?;
    let outcome = match client.deauthorize(&current.stripe_user_id).await {
        Ok(_) => Disconnected::Revoked,
        Err(e) if e.is_not_connected() => Disconnected::AlreadyDisconnected,
        Err(e) => return Err(e.into()),
    };
    let by = match outcome {
        Disconnected::Revoked => RevokedBy::Business,
        Disconnected::AlreadyDisconnected => RevokedBy::StripeAlreadyDisconnected,
    };
    db.write(move |tx| {
        if stripe_connections::revoke(tx.conn, current.id, now, by)? {
            tx.publish(DomainEvent::new(
                actor,
                now,
                StripeEvent::Disconnected {
                    account: current.stripe_user_id,
                    by: by.as_str(),
                },
            ));
        }
        Ok::<_, ConnectError>(())
    })
    .await?;
    Ok(outcome)
}
