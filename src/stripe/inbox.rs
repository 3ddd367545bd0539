//! Stripe's webhook deliveries, as one use case: the raw body is verified against every
//! configured signing secret before anything is read from it; each event is recorded
//! once (by its id); what concerns connections is applied; and each newly recorded
//! customer event is handed to the [`StripeEventHandler`]s (the customers cache) inside
//! the same transaction, so an event is recorded exactly when its effects are.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::crypto::SecretBox;
use crate::db::stripe_connections;
use crate::db::stripe_webhook_events::{self, NewWebhookEvent};
use crate::db::types::RevokedBy;
use crate::db::{DbConnection, DbError};
use crate::events::{Actor, Database, DomainEvent, StripeEvent, Tx};
use crate::stripe::bridge::StripeBridge;
use crate::stripe::error::StripeError;
use crate::stripe::webhook::{self, Event, SignatureError};

/// A customer event (`customer.*`, subscriptions included) of a connected account,
/// just recorded for the first time.
#[derive(Debug)]
pub struct RecordedEvent<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The connected account the event happened in.
    pub account: &'a str,
    /// When Stripe created the event: the version of the state it carries.
    pub created: i64,
    pub object: &'a serde_json::Value,
}

/// A reaction to recorded customer events, run inside the transaction that records the
/// event: an error rolls the recording back too, and the delivery fails, so Stripe
/// sends it again.
pub trait StripeEventHandler: Send + Sync + 'static {
    /// Applies the event; true when it changed something.
    fn apply(&self, conn: &mut DbConnection, event: &RecordedEvent<'_>) -> Result<bool, DbError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Already received: acknowledged, not applied again.
    Duplicate,
    /// Applied (a connection revoked, a cached customer or subscription changed).
    Applied,
    /// Recorded, with nothing to change (`account.application.authorized`; a customer
    /// event for a customer nobody recorded, or older than what is stored).
    Recorded,
    /// Older than what we already know (out-of-order delivery): recorded, not applied.
    Stale,
    /// A type this service does not use, or of the other mode: acknowledged and ignored.
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

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub event_id: String,
    pub event_type: String,
    pub outcome: EventOutcome,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("missing Stripe-Signature header")]
    MissingSignature,
    #[error("no webhook signing secret is configured")]
    NotConfigured(#[source] Box<StripeError>),
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("the body is not a Stripe event")]
    NotAnEvent(#[source] serde_json::Error),
    /// Stripe retries on anything but a 2xx, so this one is worth a retry.
    #[error("recording the event failed")]
    Db(#[from] DbError),
}

impl WebhookError {
    /// True when the delivery itself is at fault (answered 400, never retried to success).
    pub fn is_bad_delivery(&self) -> bool {
        !matches!(self, WebhookError::Db(_))
    }
}

/// What the use case needs besides the delivery.
#[derive(Clone)]
pub struct WebhookInbox {
    db: Database,
    clock: SharedClock,
    bridge: StripeBridge,
    secret_box: SecretBox,
    handlers: Vec<Arc<dyn StripeEventHandler>>,
}

impl WebhookInbox {
    pub fn new(
        db: Database,
        clock: SharedClock,
        bridge: StripeBridge,
        secret_box: SecretBox,
    ) -> Self {
        Self {
            db,
            clock,
            bridge,
            secret_box,
            handlers: Vec::new(),
        }
    }

    /// Adds a reaction to recorded customer events (wired at start-up).
    pub fn with_handler(mut self, handler: impl StripeEventHandler) -> Self {
        self.handlers.push(Arc::new(handler));
        self
    }

    /// `POST /webhooks/stripe`: verifies, records and applies one delivery.
    pub async fn receive(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Received, WebhookError> {
        let signature = signature.ok_or(WebhookError::MissingSignature)?;
        let credentials = self
            .bridge
            .credentials(&self.db, &self.secret_box)
            .await
            .map_err(|e| WebhookError::NotConfigured(Box::new(e)))?;
        let now = self.clock.now();
        webhook::verify(
            body,
            signature,
            &credentials.webhook_secrets,
            self.bridge.webhook_tolerance_seconds(),
            now,
        )
        .inspect_err(|_| count_received(UNVERIFIED_TYPE, "rejected"))?;
        let event: Event = serde_json::from_slice(body).map_err(WebhookError::NotAnEvent)?;
        let (event_id, event_type) = (event.id.clone(), event.event_type.clone());
        let livemode = credentials.livemode();
        let handlers = self.handlers.clone();
        let recorded = self
            .db
            .write(move |tx| record(tx, &handlers, now, livemode, &event))
            .await;
        let outcome = match recorded {
            Ok(outcome) => outcome,
            // Two deliveries of one event raced; the other one recorded it.
            Err(e) if e.is_unique_violation() => EventOutcome::Duplicate,
            Err(e) => {
                count_received(&event_type, "failed");
                return Err(e.into());
            }
        };
        count_received(&event_type, outcome.as_str());
        Ok(Received {
            event_id,
            event_type,
            outcome,
        })
    }
}

/// The `type` label of a webhook whose signature did not verify: its body is not read.
const UNVERIFIED_TYPE: &str = "unverified";

/// Counts one webhook by event type and outcome. Only verified events name their type
/// (Stripe's types, a few hundred at most); a type that does not look like one of
/// Stripe's (`customer.subscription.updated`) is counted as `other`, so a sender with a
/// valid signature cannot grow the label set without bound.
fn count_received(event_type: &str, outcome: &'static str) {
    let looks_like_stripes = !event_type.is_empty()
        && event_type.len() <= 64
        && event_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
    let event_type = if looks_like_stripes {
        event_type.to_owned()
    } else {
        "other".to_owned()
    };
    metrics::counter!(
        "bridgekeeper_stripe_webhook_events_total",
        "type" => event_type,
        "outcome" => outcome,
    )
    .increment(1);
}

fn is_customer_event(event_type: &str) -> bool {
    event_type.starts_with("customer.")
}

/// Records one verified event, at most once per event id, and applies it. Events may
/// arrive out of order: a deauthorization older than the current connection is
/// recorded but not applied, and the handlers keep only newer state.
///
/// Events of the other mode (a test event at a live platform, or the reverse) are
/// acknowledged and ignored.
fn record(
    tx: &mut Tx<'_>,
    handlers: &[Arc<dyn StripeEventHandler>],
    now: i64,
    livemode: bool,
    event: &Event,
) -> Result<EventOutcome, DbError> {
    if stripe_webhook_events::exists(tx.conn, &event.id)? {
        return Ok(EventOutcome::Duplicate);
    }
    let outcome = match (event.event_type.as_str(), event.account.as_deref()) {
        _ if event.livemode != livemode => EventOutcome::Ignored,
        ("account.application.deauthorized", Some(account)) => {
            deauthorize(tx, now, account, event)?
        }
        ("account.application.authorized", _) => EventOutcome::Recorded,
        (event_type, Some(account)) if is_customer_event(event_type) => {
            let recorded = RecordedEvent {
                event_id: &event.id,
                event_type,
                account,
                created: event.created,
                object: &event.data.object,
            };
            let mut outcome = EventOutcome::Recorded;
            for handler in handlers {
                if handler.apply(tx.conn, &recorded)? {
                    outcome = EventOutcome::Applied;
                }
            }
            outcome
        }
        _ => EventOutcome::Ignored,
    };
    let object_id = event.data.object.get("id").and_then(|v| v.as_str());
    // An ignored event's object is not kept: nothing will read it.
    let object_json = match outcome {
        EventOutcome::Ignored => "{}".to_owned(),
        _ => event.data.object.to_string(),
    };
    stripe_webhook_events::insert(
        tx.conn,
        &NewWebhookEvent {
            event_id: &event.id,
            event_type: &event.event_type,
            account: event.account.as_deref(),
            livemode: event.livemode,
            created: event.created,
            object_id,
            object_json: &object_json,
            outcome: outcome.as_str(),
            received_at: now,
        },
    )?;
    Ok(outcome)
}

/// The account's owner removed the platform: its current connections end, unless the
/// event is older than the connection (sent before a reconnect).
fn deauthorize(
    tx: &mut Tx<'_>,
    now: i64,
    account: &str,
    event: &Event,
) -> Result<EventOutcome, DbError> {
    let mut outcome = EventOutcome::Stale;
    for connection in stripe_connections::connected_to_account(tx.conn, account)? {
        if event.created < connection.connected_at {
            continue;
        }
        if stripe_connections::revoke(tx.conn, connection.id, now, RevokedBy::StripeWebhook)? {
            outcome = EventOutcome::Applied;
            tx.publish(DomainEvent::new(
                Actor::system("stripe"),
                now,
                StripeEvent::Deauthorized {
                    account: account.to_owned(),
                    event_id: event.id.clone(),
                },
            ));
        }
    }
    Ok(outcome)
}
