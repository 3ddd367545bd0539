//! The Connect rules: single-use `state` values, storing a connection, disconnecting,
//! and applying Stripe's webhook events. Network calls happen outside database closures.

use crate::crypto::{constant_time_eq, random_token, CredentialHasher, CryptoError, SecretBox};
use crate::db::stripe_connect_states::{self, NewConnectState};
use crate::db::stripe_connections::{self, ConnectionForm, StripeConnection, STATUS_CONNECTED};
use crate::db::stripe_webhook_events::{self, NewWebhookEvent};
use crate::db::{Database, DbError};
use crate::events::{Actor, DomainEvent, EventKind};
use crate::stripe::client::StripeClient;
use crate::stripe::error::StripeError;
use crate::stripe::types::OAuthToken;
use crate::stripe::webhook::Event;

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

pub const REVOKED_BY_BUSINESS: &str = "business";
pub const REVOKED_BY_STRIPE_ANSWER: &str = "stripe_already_disconnected";
pub const REVOKED_BY_WEBHOOK: &str = "stripe_webhook";

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
    #[error("{0}")]
    Stripe(Box<StripeError>),
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

/// Creates a fresh single-use `state` bound to the business and to the browser session
/// (whose binding value the caller keeps in the session). Only hashes are stored.
pub async fn begin(
    db: &Database,
    hasher: &CredentialHasher,
    now: i64,
    user_id: i64,
    session_binding: &str,
) -> Result<String, ConnectError> {
    let state = random_token(STATE_BYTES);
    let state_hash = hasher.hash(&state);
    let binding_hash = hasher.hash(session_binding);
    db.write(move |tx| {
        let current = stripe_connections::find_for_user(tx.conn, user_id)?;
        if current.is_some_and(|c| c.status == STATUS_CONNECTED) {
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
pub async fn take_state(
    db: &Database,
    hasher: &CredentialHasher,
    now: i64,
    user_id: i64,
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

/// Stores the connection Stripe granted (tokens sealed), unless the account is already
/// connected to another business.
pub async fn store_connection(
    db: &Database,
    secret_box: &SecretBox,
    now: i64,
    user_id: i64,
    token: OAuthToken,
    actor: Actor,
) -> Result<(), ConnectError> {
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
    db.write(move |tx| {
        let others = stripe_connections::connected_to_account(tx.conn, &token.stripe_user_id)?;
        if others.iter().any(|c| c.user_id != user_id) {
            return Err(ConnectError::AccountTaken {
                account: token.stripe_user_id.clone(),
            });
        }
        let scope = token.scope.clone().unwrap_or_else(|| "read_write".into());
        stripe_connections::upsert(
            tx.conn,
            &ConnectionForm {
                user_id,
                stripe_user_id: &token.stripe_user_id,
                livemode: token.livemode,
                scope: &scope,
                publishable_key: token.stripe_publishable_key.as_deref(),
                access_token_sealed: access.as_deref(),
                refresh_token_sealed: refresh.as_deref(),
                status: STATUS_CONNECTED,
                connected_at: now,
                revoked_at: None,
                revoked_by: None,
                updated_at: now,
            },
        )?;
        tx.publish(DomainEvent {
            actor,
            occurred_at: now,
            kind: EventKind::Other {
                action: "stripe.connected".into(),
                detail: format!(
                    "{} ({} mode, scope {scope})",
                    token.stripe_user_id,
                    if token.livemode { "live" } else { "test" }
                ),
            },
        });
        Ok(())
    })
    .await
}

pub async fn connection(
    db: &Database,
    user_id: i64,
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
pub async fn disconnect(
    db: &Database,
    client: &StripeClient,
    now: i64,
    user_id: i64,
    actor: Actor,
) -> Result<Disconnected, ConnectError> {
    let current = connection(db, user_id)
        .await?
        .filter(|c| c.status == STATUS_CONNECTED)
        .ok_or(ConnectError::NotConnected)?;
    let outcome = match client.deauthorize(&current.stripe_user_id).await {
        Ok(_) => Disconnected::Revoked,
        Err(e) if e.is_not_connected() => Disconnected::AlreadyDisconnected,
        Err(e) => return Err(e.into()),
    };
    let by = match outcome {
        Disconnected::Revoked => REVOKED_BY_BUSINESS,
        Disconnected::AlreadyDisconnected => REVOKED_BY_STRIPE_ANSWER,
    };
    db.write(move |tx| {
        if stripe_connections::revoke(tx.conn, current.id, now, by)? {
            tx.publish(DomainEvent {
                actor,
                occurred_at: now,
                kind: EventKind::Other {
                    action: "stripe.disconnected".into(),
                    detail: format!("{} ({by})", current.stripe_user_id),
                },
            });
        }
        Ok::<_, ConnectError>(())
    })
    .await?;
    Ok(outcome)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Already received: acknowledged, not applied again.
    Duplicate,
    /// Applied (a connection revoked).
    Applied,
    /// Recorded (`account.application.authorized`; customer events, which the customers
    /// cache then applies).
    Recorded,
    /// Older than what we already know (out-of-order delivery): recorded, not applied.
    Stale,
    /// A type this service does not use: acknowledged and ignored.
    Ignored,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Applied => "applied",
            EventOutcome::Recorded => "recorded",
            EventOutcome::Stale => "stale",
            EventOutcome::Ignored => "ignored",
        }
    }
}

fn is_customer_event(event_type: &str) -> bool {
    event_type.starts_with("customer.")
}

/// Records one verified event, at most once per event id, and applies what concerns
/// connections. Events may arrive out of order: a deauthorization older than the current
/// connection is recorded but not applied.
///
/// Events of the other mode (a test event at a live platform, or the reverse) are
/// acknowledged and ignored.
pub async fn process_event(
    db: &Database,
    now: i64,
    livemode: bool,
    event: Event,
) -> Result<EventOutcome, ConnectError> {
    let result = db
        .write(move |tx| {
            if stripe_webhook_events::exists(tx.conn, &event.id)? {
                return Ok(EventOutcome::Duplicate);
            }
            let object_id = event
                .data
                .object
                .get("id")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            let mut object_json = event.data.object.to_string();
            let outcome = match (event.event_type.as_str(), event.account.as_deref()) {
                _ if event.livemode != livemode => EventOutcome::Ignored,
                ("account.application.deauthorized", Some(account)) => {
                    let mut outcome = EventOutcome::Stale;
                    for connection in stripe_connections::connected_to_account(tx.conn, account)? {
                        if event.created < connection.connected_at {
                            // Sent before the current connection was made.
                            continue;
                        }
                        if stripe_connections::revoke(
                            tx.conn,
                            connection.id,
                            now,
                            REVOKED_BY_WEBHOOK,
                        )? {
                            outcome = EventOutcome::Applied;
                            tx.publish(DomainEvent {
                                actor: Actor::system("stripe"),
                                occurred_at: now,
                                kind: EventKind::Other {
                                    action: "stripe.deauthorized".into(),
                                    detail: format!("{account} (event {})", event.id),
                                },
                            });
                        }
                    }
                    outcome
                }
                ("account.application.authorized", _) => EventOutcome::Recorded,
                // Kept in the event log; the customers cache applies them (in order).
                (t, Some(_)) if is_customer_event(t) => EventOutcome::Recorded,
                _ => EventOutcome::Ignored,
            };
            if outcome == EventOutcome::Ignored {
                object_json = "{}".into();
            }
            stripe_webhook_events::insert(
                tx.conn,
                &NewWebhookEvent {
                    event_id: &event.id,
                    event_type: &event.event_type,
                    account: event.account.as_deref(),
                    livemode: event.livemode,
                    created: event.created,
                    object_id: object_id.as_deref(),
                    object_json: &object_json,
                    outcome: outcome.as_str(),
                    received_at: now,
                },
            )?;
            Ok(outcome)
        })
        .await;
    match result {
        // Two deliveries of one event raced; the other one recorded it.
        Err(ConnectError::Db(e)) if e.is_unique_violation() => Ok(EventOutcome::Duplicate),
        other => other,
    }
}
