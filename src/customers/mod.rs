//! The customers API's use cases: a business records one of its Stripe customers, and
//! reads that customer's subscriptions from a local copy that Stripe's webhooks keep
//! fresh and that is re-read from Stripe when older than the refresh age. Calls to
//! Stripe use the platform key with the business's `Stripe-Account`, and never run
//! inside a database transaction.

pub mod document;

use futures_util::future::join;
use serde::Deserialize;

use crate::clock::SharedClock;
use crate::crypto::SecretBox;
use crate::db::customer_subscriptions::{self, SubscriptionForm};
use crate::db::customers::{self as records, CustomerFields, CustomerRecord, NewCustomerRecord};
use crate::db::stripe_connections::{self, StripeConnection};
use crate::db::types::{ConnectionId, CustomerPk, UserId};
use crate::db::{DbConnection, DbError};
use crate::events::{Actor, CustomerEvent, Database, DomainEvent};
use crate::stripe::bridge::StripeBridge;
use crate::stripe::client::{ListSubscriptions, StripeClient};
use crate::stripe::error::{StripeError, StripeErrorKind};
use crate::stripe::inbox::{RecordedEvent, StripeEventHandler};
use crate::stripe::types::{Customer, Subscription};

pub use document::{CustomerDocument, ItemState, SubscriptionState};

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("connect a Stripe account on the Connect tab first")]
    NotConnected,
    #[error("no customer {0} in the connected Stripe account")]
    NotFound(String),
    #[error("customer {0} is not recorded; record it with POST /api/customers/ first")]
    NotRecorded(String),
    #[error("customer {0} was deleted in Stripe")]
    Deleted(String),
    /// Recorded under a connection that has ended (the business disconnected, the
    /// account's owner removed the platform, or the business connected another account):
    /// nothing more is read from Stripe for it, and no portal session is created.
    #[error("customer {customer_id} was recorded in Stripe account {account}, which is no longer connected to this business: it is not read from Stripe or updated by Stripe's webhooks any more. Reconnecting {account} on the Connect tab attaches it again")]
    Detached {
        customer_id: String,
        account: String,
    },
    #[error("{0}")]
    PortalNotConfigured(String),
    /// The message says what happened in the business's terms; the cause (with the
    /// transport's own words) is the source, for the log.
    #[error("{} Try again in a moment.", .0.public_message())]
    StripeUnavailable(#[source] Box<StripeError>),
    #[error("{} Try again in a moment.", .0.public_message())]
    StripeTimeout(#[source] Box<StripeError>),
    #[error("{}", .0.public_message())]
    StripeFailed(#[source] Box<StripeError>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for CustomerError {
    fn from(e: diesel::result::Error) -> Self {
        CustomerError::Db(e.into())
    }
}

/// Seconds a caller should wait after a 503.
pub const RETRY_AFTER_SECONDS: i64 = 30;

/// What the use cases need besides their arguments.
#[derive(Clone)]
pub struct Customers {
    pub db: Database,
    pub clock: SharedClock,
    pub bridge: StripeBridge,
    pub secret_box: SecretBox,
    /// A copy older than this is re-read from Stripe on a single-customer read.
    pub refresh_after_seconds: i64,
}

/// A validated Stripe customer id (`cus_…`; Stripe ids are at most 255 characters).
/// A read of one cached customer: `hit` (the copy was fresh), `miss` (re-read from
/// Stripe first) or `stale` (too old, but Stripe could not be reached).
fn count_lookup(outcome: &'static str) {
    metrics::counter!(
        "bridgekeeper_cache_lookups_total",
        "cache" => "customers",
        "outcome" => outcome,
    )
    .increment(1);
}

pub fn parse_customer_id(raw: &str) -> Result<String, CustomerError> {
    let valid = raw.len() > 4
        && raw.len() <= 255
        && raw.starts_with("cus_")
        && raw[4..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(CustomerError::Invalid {
            field: "customer_id",
            message: "a Stripe customer id looks like cus_NffrFeUfNV2Hib".into(),
        })
    }
}

/// An absolute http(s) URL for the portal's "return to site" link.
pub fn parse_return_url(raw: &str) -> Result<String, CustomerError> {
    match url::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {
            Ok(url.to_string())
        }
        _ => Err(CustomerError::Invalid {
            field: "return_url",
            message: "an absolute https URL such as https://app.example.com/account".into(),
        }),
    }
}

/// A new portal session for the API to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    pub url: String,
    pub created: i64,
    pub return_url: Option<String>,
}

/// One page of recorded customers, newest first.
#[derive(Debug, Clone)]
pub struct CustomerPage {
    pub customers: Vec<CustomerDocument>,
    pub has_more: bool,
}

/// What a full read from Stripe gives.
#[derive(Clone)]
struct Fetched {
    customer: Customer,
    subscriptions: Vec<Subscription>,
}

/// The business's live connection, as the use cases need it.
#[derive(Debug, Clone)]
struct Live {
    id: ConnectionId,
    account: String,
    connected_at: i64,
}

impl From<StripeConnection> for Live {
    fn from(c: StripeConnection) -> Self {
        Self {
            id: c.id,
            account: c.stripe_user_id,
            connected_at: c.connected_at,
        }
    }
}

fn live_connection(conn: &mut DbConnection, user_id: UserId) -> Result<Option<Live>, DbError> {
    Ok(stripe_connections::live_for_user(conn, user_id)?.map(Live::from))
}

/// The live connection a record belongs to, or `Detached`: a record is read, refreshed
/// and given portal sessions only through the connection it is keyed to, while that
/// connection is live.
fn attached(record: &CustomerRecord, live: Option<Live>) -> Result<Live, CustomerError> {
    match live {
        Some(live) if record.connection_id == Some(live.id) => Ok(live),
        _ => Err(CustomerError::Detached {
            customer_id: record.customer_id.clone(),
            account: record.stripe_account.clone(),
        }),
    }
}

/// Inside a write: the record is still keyed to `connection`, and it is still live.
/// (Stripe was read outside any transaction; had the connection ended meanwhile, what
/// was read is neither stored nor answered.)
fn still_attached(
    conn: &mut DbConnection,
    record: &CustomerRecord,
    connection: ConnectionId,
) -> Result<(), CustomerError> {
    let live = live_connection(conn, record.user_id)?.filter(|live| live.id == connection);
    attached(record, live).map(drop)
}

/// How much a copy can be trusted, for the answer's `stale` and `detached`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Read from Stripe under its live connection within the refresh age.
    Fresh,
    /// Older than the refresh age, or read before its connection was made (a record
    /// attached again on a reconnect missed what happened while it was detached).
    Stale,
    /// Its connection has ended: the last copy, never refreshed or updated again.
    Detached,
}

fn freshness(record: &CustomerRecord, live: Option<&Live>, now: i64, refresh: i64) -> Freshness {
    match live {
        Some(live) if record.connection_id == Some(live.id) => {
            if now - record.fetched_at >= refresh || record.fetched_at < live.connected_at {
                Freshness::Stale
            } else {
                Freshness::Fresh
            }
        }
        _ => Freshness::Detached,
    }
}

impl Customers {
    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The business's live connection, or `NotConnected`.
    async fn connected(&self, user_id: UserId) -> Result<Live, CustomerError> {
        self.db
            .read(move |conn| live_connection(conn, user_id))
            .await?
            .ok_or(CustomerError::NotConnected)
    }

    async fn client(&self) -> Result<StripeClient, CustomerError> {
        self.bridge
            .client(&self.db, &self.secret_box)
            .await
            .map_err(stripe_failure)
    }

    /// Reads the customer and all of its subscriptions (every status) from Stripe. The
    /// two requests go out together; what the customer request says comes first (an
    /// unknown or deleted customer is that, whatever the subscription list said).
    async fn fetch(
        &self,
        client: &StripeClient,
        account: &str,
        customer_id: &str,
    ) -> Result<Fetched, CustomerError> {
        let query = ListSubscriptions {
            customer: Some(customer_id.to_owned()),
            status: Some("all".into()),
            limit: Some(100),
            expand: vec!["data.items.data.price.product".into()],
            ..ListSubscriptions::default()
        };
        let (customer, subscriptions) = join(
            client.retrieve_customer(account, customer_id),
            client.list_subscriptions(account, &query),
        )
        .await;
        let customer = customer.map_err(|e| customer_failure(e, customer_id))?;
        if customer.deleted {
            return Err(CustomerError::Deleted(customer_id.to_owned()));
        }
        Ok(Fetched {
            customer,
            subscriptions: subscriptions.map_err(stripe_failure)?,
        })
    }

    /// `POST /api/customers/`: records the customer under the business's live
    /// connection (or refreshes an existing record, keying it to that connection) and
    /// creates a portal session. Returns the document and whether it was new.
    pub async fn record(
        &self,
        user_id: UserId,
        customer_id: &str,
        return_url: Option<String>,
        actor: Actor,
    ) -> Result<(CustomerDocument, bool), CustomerError> {
        let customer_id = parse_customer_id(customer_id)?;
        let return_url = return_url.as_deref().map(parse_return_url).transpose()?;
        let live = self.connected(user_id).await?;
        let client = self.client().await?;
        // The portal session is asked for alongside the reads (it needs nothing they
        // return); a failed read still decides the answer.
        let (fetched, portal) = join(
            self.fetch(&client, &live.account, &customer_id),
            client.create_billing_portal_session(
                &live.account,
                &customer_id,
                return_url.as_deref(),
            ),
        )
        .await;
        let fetched = fetched?;
        let portal = portal.map_err(portal_failure)?;
        let now = self.now();
        let (record, subscriptions, created) = self
            .db
            .write(move |tx| {
                // The connection may have ended while Stripe was read: then nothing is
                // stored, and neither the copy nor the portal session is answered.
                if live_connection(tx.conn, user_id)?.is_none_or(|c| c.id != live.id) {
                    return Err(CustomerError::NotConnected);
                }
                // Insert-if-absent, so two concurrent first records of one customer
                // cannot collide (PostgreSQL runs them side by side).
                let created = records::insert_if_absent(
                    tx.conn,
                    &NewCustomerRecord {
                        user_id,
                        connection_id: live.id,
                        stripe_account: &live.account,
                        customer_id: &customer_id,
                        email: fetched.customer.email.as_deref(),
                        name: fetched.customer.name.as_deref(),
                        livemode: fetched.customer.livemode,
                        deleted: false,
                        version: now,
                        recorded_at: now,
                        fetched_at: now,
                    },
                )?;
                if created {
                    tx.publish(DomainEvent::new(
                        actor,
                        now,
                        CustomerEvent::Recorded {
                            customer_id: customer_id.clone(),
                            account: live.account.clone(),
                        },
                    ));
                }
                let record = records::find(tx.conn, user_id, &customer_id)?
                    .ok_or(diesel::result::Error::NotFound)?;
                if record.connection_id != Some(live.id) {
                    // Recorded earlier under a connection that has ended: recording it
                    // again attaches it to this one.
                    records::attach(tx.conn, record.id, live.id, &live.account)?;
                }
                store_fetched(tx.conn, &record, &fetched, now)?;
                let record = records::find(tx.conn, user_id, &customer_id)?
                    .ok_or(diesel::result::Error::NotFound)?;
                let subscriptions = customer_subscriptions::for_customer(tx.conn, record.id)?;
                Ok::<_, CustomerError>((record, subscriptions, created))
            })
            .await?;
        let mut document = document_of(record, decode(subscriptions), Freshness::Fresh);
        document.portal_url = Some(portal.url);
        Ok((document, created))
    }

    /// `GET /api/customers/{id}/`: the cached copy, refreshed from Stripe first when it
    /// is older than the refresh age (or than its connection); when Stripe cannot be
    /// reached, the old copy with `stale: true`. A record whose connection has ended is
    /// refused (`Detached`): nothing more is read for it.
    pub async fn get(
        &self,
        user_id: UserId,
        customer_id: &str,
    ) -> Result<CustomerDocument, CustomerError> {
        let customer_id = parse_customer_id(customer_id)?;
        // The record with its connection (when live), then its subscriptions, in one
        // read: the common, cached case.
        let id = customer_id.clone();
        let (record, live, subscriptions) = self
            .db
            .read(move |conn| {
                let (record, live) = records::find_with_live_connection(conn, user_id, &id)?
                    .ok_or(CustomerError::NotRecorded(id))?;
                // At most one connection of a business is live (a unique index holds
                // it), so the record's, when live, is the business's.
                let live = live.map(Live::from);
                let subscriptions = customer_subscriptions::for_customer(conn, record.id)?;
                Ok::<_, CustomerError>((record, live, subscriptions))
            })
            .await?;
        let live = attached(&record, live)?;
        if record.deleted {
            return Err(CustomerError::Deleted(customer_id));
        }
        if freshness(&record, Some(&live), self.now(), self.refresh_after_seconds)
            == Freshness::Fresh
        {
            count_lookup("hit");
            return Ok(document_of(record, decode(subscriptions), Freshness::Fresh));
        }
        match self.refresh(&record, &live).await {
            Ok(record) => {
                count_lookup("miss");
                self.load_document(record).await
            }
            Err(CustomerError::StripeUnavailable(error) | CustomerError::StripeTimeout(error)) => {
                count_lookup("stale");
                tracing::warn!(%error, customer = %customer_id, "serving a stale copy");
                Ok(document_of(record, decode(subscriptions), Freshness::Stale))
            }
            Err(other) => Err(other),
        }
    }

    /// Re-reads one record from Stripe through its connection and stores what it found.
    async fn refresh(
        &self,
        record: &CustomerRecord,
        live: &Live,
    ) -> Result<CustomerRecord, CustomerError> {
        let client = self.client().await?;
        let fetched = self
            .fetch(&client, &live.account, &record.customer_id)
            .await;
        let now = self.now();
        let connection = live.id;
        let (user_id, customer_id) = (record.user_id, record.customer_id.clone());
        match fetched {
            Ok(fetched) => {
                self.db
                    .write(move |tx| {
                        let record = records::find(tx.conn, user_id, &customer_id)?
                            .ok_or_else(|| CustomerError::NotRecorded(customer_id.clone()))?;
                        still_attached(tx.conn, &record, connection)?;
                        store_fetched(tx.conn, &record, &fetched, now)?;
                        records::find(tx.conn, user_id, &customer_id)?
                            .ok_or_else(|| CustomerError::NotRecorded(customer_id.clone()))
                    })
                    .await
            }
            Err(CustomerError::Deleted(id)) => {
                self.db
                    .write(move |tx| {
                        let record = records::find(tx.conn, user_id, &customer_id)?
                            .ok_or_else(|| CustomerError::NotRecorded(customer_id.clone()))?;
                        still_attached(tx.conn, &record, connection)?;
                        records::update_if_newer(
                            tx.conn,
                            record.id,
                            &CustomerFields {
                                email: None,
                                name: None,
                                livemode: false,
                                deleted: true,
                                version: now,
                            },
                        )?;
                        Ok::<_, CustomerError>(())
                    })
                    .await?;
                Err(CustomerError::Deleted(id))
            }
            Err(other) => Err(other),
        }
    }

    /// The document of one freshly refreshed record from the cache.
    async fn load_document(
        &self,
        record: CustomerRecord,
    ) -> Result<CustomerDocument, CustomerError> {
        let subscriptions = self
            .db
            .read(move |conn| {
                Ok::<_, CustomerError>(customer_subscriptions::for_customer(conn, record.id)?)
            })
            .await?;
        Ok(document_of(record, decode(subscriptions), Freshness::Fresh))
    }

    /// `GET /api/customers/`: the business's customers from the cache, newest first;
    /// those whose connection has ended are listed as detached, as they were then.
    pub async fn list(
        &self,
        user_id: UserId,
        limit: i64,
        starting_after: Option<String>,
    ) -> Result<CustomerPage, CustomerError> {
        if !(1..=100).contains(&limit) {
            return Err(CustomerError::Invalid {
                field: "limit",
                message: "a number from 1 to 100".into(),
            });
        }
        let starting_after = starting_after
            .as_deref()
            .map(|id| {
                parse_customer_id(id).map_err(|_| CustomerError::Invalid {
                    field: "starting_after",
                    message: "the last customer_id of the previous page (cus_…)".into(),
                })
            })
            .transpose()?;
        let now = self.now();
        let refresh_after = self.refresh_after_seconds;
        self.db
            .read(move |conn| {
                let before = match starting_after {
                    Some(id) => Some(
                        records::find(conn, user_id, &id)?
                            .ok_or_else(|| CustomerError::Invalid {
                                field: "starting_after",
                                message: format!("{id} is not one of your recorded customers"),
                            })?
                            .id,
                    ),
                    None => None,
                };
                let live = live_connection(conn, user_id)?;
                let mut page = records::page(conn, user_id, before, limit + 1)?;
                let has_more = page.len() as i64 > limit;
                page.truncate(limit as usize);
                let pks: Vec<CustomerPk> = page.iter().map(|r| r.id).collect();
                let mut subscriptions = decode(customer_subscriptions::for_customers(conn, &pks)?);
                let customers = page
                    .into_iter()
                    .map(|record| {
                        let (mine, rest): (Vec<_>, Vec<_>) = subscriptions
                            .drain(..)
                            .partition(|(pk, _)| *pk == record.id);
                        subscriptions = rest;
                        let freshness = freshness(&record, live.as_ref(), now, refresh_after);
                        document_of(record, mine, freshness)
                    })
                    .collect();
                Ok(CustomerPage {
                    customers,
                    has_more,
                })
            })
            .await
    }

    /// `POST /api/customers/{id}/portal_sessions/`: a new portal session, only for a
    /// record whose connection is live (before the call to Stripe and after it).
    pub async fn create_portal_session(
        &self,
        user_id: UserId,
        customer_id: &str,
        return_url: Option<String>,
    ) -> Result<PortalSession, CustomerError> {
        let customer_id = parse_customer_id(customer_id)?;
        let return_url = return_url.as_deref().map(parse_return_url).transpose()?;
        let id = customer_id.clone();
        let (record, live) = self
            .db
            .read(move |conn| {
                let record =
                    records::find(conn, user_id, &id)?.ok_or(CustomerError::NotRecorded(id))?;
                let live = live_connection(conn, user_id)?;
                Ok::<_, CustomerError>((record, live))
            })
            .await?;
        let live = attached(&record, live)?;
        let client = self.client().await?;
        let session = client
            .create_billing_portal_session(&live.account, &customer_id, return_url.as_deref())
            .await
            .map_err(portal_failure)?;
        // The connection may have ended while Stripe answered; the session is then not
        // handed out.
        let now_live = self
            .db
            .read(move |conn| live_connection(conn, user_id))
            .await?;
        attached(&record, now_live.filter(|c| c.id == live.id))?;
        Ok(PortalSession {
            url: session.url,
            created: session.created,
            return_url: session.return_url,
        })
    }

    /// `DELETE /api/customers/{id}/`: forgets the customer (Stripe is not changed);
    /// detached records too.
    pub async fn forget(
        &self,
        user_id: UserId,
        customer_id: &str,
        actor: Actor,
    ) -> Result<(), CustomerError> {
        let customer_id = parse_customer_id(customer_id)?;
        let now = self.now();
        self.db
            .write(move |tx| {
                if !records::delete(tx.conn, user_id, &customer_id)? {
                    return Err(CustomerError::NotRecorded(customer_id));
                }
                tx.publish(DomainEvent::new(
                    actor,
                    now,
                    CustomerEvent::Forgotten { customer_id },
                ));
                Ok(())
            })
            .await
    }
}

/// Keeps the cached copies fresh from Stripe's webhooks: a recorded customer event is
/// applied to the records of the connection now live for the event's account (at most
/// one business's), in the transaction that records the event. Records of a connection
/// that has ended are never touched, whoever connects the account next. Events older
/// than the stored state (out-of-order delivery) change nothing; applying the same event
/// twice changes nothing either.
pub struct CacheFromWebhooks;

/// The live records of `customer_id` in `account`: those of the account's live
/// connection.
fn live_records(
    conn: &mut DbConnection,
    account: &str,
    customer_id: &str,
) -> Result<Vec<CustomerRecord>, DbError> {
    let mut found = Vec::new();
    for connection in stripe_connections::connected_to_account(conn, account)? {
        found.extend(records::find_for_connection(
            conn,
            connection.id,
            customer_id,
        )?);
    }
    Ok(found)
}

impl StripeEventHandler for CacheFromWebhooks {
    fn apply(&self, conn: &mut DbConnection, event: &RecordedEvent<'_>) -> Result<bool, DbError> {
        let mut changed = false;
        if event.event_type.starts_with("customer.subscription.") {
            let Ok(subscription) = Subscription::deserialize(event.object) else {
                return Ok(false);
            };
            let state = SubscriptionState::from_stripe(&subscription);
            let document = serde_json::to_string(&state).map_err(DbError::task)?;
            for record in live_records(conn, event.account, subscription.customer.id())? {
                changed |= customer_subscriptions::store_if_newer(
                    conn,
                    &SubscriptionForm {
                        customer_pk: record.id,
                        subscription_id: &state.id,
                        status: &state.status,
                        renews_at: state.renews_at,
                        document: &document,
                        version: event.created,
                    },
                )?;
            }
        } else if event.event_type == "customer.updated" || event.event_type == "customer.deleted" {
            let Ok(customer) = Customer::deserialize(event.object) else {
                return Ok(false);
            };
            for record in live_records(conn, event.account, &customer.id)? {
                changed |= records::update_if_newer(
                    conn,
                    record.id,
                    &CustomerFields {
                        email: customer.email.as_deref().or(record.email.as_deref()),
                        name: customer.name.as_deref().or(record.name.as_deref()),
                        livemode: customer.livemode,
                        deleted: event.event_type == "customer.deleted" || customer.deleted,
                        version: event.created,
                    },
                )?;
            }
        }
        Ok(changed)
    }
}

/// Stores a full read from Stripe as the state at `now`.
fn store_fetched(
    conn: &mut crate::db::DbConnection,
    record: &CustomerRecord,
    fetched: &Fetched,
    now: i64,
) -> Result<(), CustomerError> {
    // The customer's row first, unconditionally: on PostgreSQL every fetch then locks
    // the customer before its subscriptions. (`update_if_newer` below locks it only
    // when its version is older; a fetch whose version lost would otherwise take the
    // subscriptions first and the customer last, and deadlock with one that won.)
    records::mark_fetched(conn, record.id, now)?;
    records::update_if_newer(
        conn,
        record.id,
        &CustomerFields {
            email: fetched.customer.email.as_deref(),
            name: fetched.customer.name.as_deref(),
            livemode: fetched.customer.livemode,
            deleted: false,
            version: now,
        },
    )?;
    let mut seen = Vec::with_capacity(fetched.subscriptions.len());
    for subscription in &fetched.subscriptions {
        let state = SubscriptionState::from_stripe(subscription);
        let document = serde_json::to_string(&state).map_err(DbError::task)?;
        customer_subscriptions::store_if_newer(
            conn,
            &SubscriptionForm {
                customer_pk: record.id,
                subscription_id: &state.id,
                status: &state.status,
                renews_at: state.renews_at,
                document: &document,
                version: now,
            },
        )?;
        seen.push(state.id);
    }
    customer_subscriptions::delete_missing(conn, record.id, &seen, now)?;
    Ok(())
}

/// Cached rows back to documents (a row that no longer parses is skipped and logged).
fn decode(
    rows: Vec<customer_subscriptions::CachedSubscription>,
) -> Vec<(CustomerPk, SubscriptionState)> {
    rows.into_iter()
        .filter_map(|row| match serde_json::from_str(&row.document) {
            Ok(state) => Some((row.customer_pk, state)),
            Err(error) => {
                tracing::error!(%error, subscription = %row.subscription_id, "unreadable cached subscription");
                None
            }
        })
        .collect()
}

fn document_of(
    record: CustomerRecord,
    subscriptions: Vec<(CustomerPk, SubscriptionState)>,
    freshness: Freshness,
) -> CustomerDocument {
    CustomerDocument {
        customer_id: record.customer_id,
        email: record.email,
        name: record.name,
        livemode: record.livemode,
        subscriptions: subscriptions.into_iter().map(|(_, s)| s).collect(),
        portal_url: None,
        fetched_at: record.fetched_at,
        stale: freshness != Freshness::Fresh,
        detached: freshness == Freshness::Detached,
    }
}

/// Stripe failures that are not about a specific customer.
fn stripe_failure(error: StripeError) -> CustomerError {
    match error.kind {
        StripeErrorKind::Timeout => CustomerError::StripeTimeout(Box::new(error)),
        StripeErrorKind::Network => CustomerError::StripeUnavailable(Box::new(error)),
        _ if error.is_account_access_revoked() => CustomerError::NotConnected,
        _ if matches!(error.status, Some(429) | Some(500..=599)) => {
            CustomerError::StripeUnavailable(Box::new(error))
        }
        _ => CustomerError::StripeFailed(Box::new(error)),
    }
}

fn customer_failure(error: StripeError, customer_id: &str) -> CustomerError {
    if error.status == Some(404) || error.code.as_deref() == Some("resource_missing") {
        CustomerError::NotFound(customer_id.to_owned())
    } else {
        stripe_failure(error)
    }
}

/// Stripe answers 400 with a message pointing at the portal settings when the connected
/// account never saved its customer-portal configuration.
fn portal_failure(error: StripeError) -> CustomerError {
    let message = error.message.to_ascii_lowercase();
    if error.status == Some(400) && message.contains("portal") && message.contains("settings") {
        CustomerError::PortalNotConfigured(error.message)
    } else if error.status == Some(400) && error.param.as_deref() == Some("customer") {
        CustomerError::StripeFailed(Box::new(error))
    } else {
        stripe_failure(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_ids_must_look_like_stripes() {
        assert!(parse_customer_id("cus_NffrFeUfNV2Hib").is_ok());
        for bad in [
            "",
            "cus_",
            "cust_1",
            "cus_a b",
            "cus_a/../b",
            &format!("cus_{}", "a".repeat(252)),
        ] {
            assert!(parse_customer_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn return_urls_must_be_absolute_http_urls() {
        assert!(parse_return_url("https://app.example.com/account").is_ok());
        for bad in [
            "/account",
            "javascript:alert(1)",
            "ftp://x.test/",
            "not a url",
        ] {
            assert!(parse_return_url(bad).is_err(), "{bad}");
        }
    }

    fn error(status: u16, message: &str) -> StripeError {
        let mut e = StripeError::new(StripeErrorKind::Api, message);
        e.status = Some(status);
        e
    }

    #[test]
    fn stripe_failures_map_to_the_apis_error_codes() {
        assert!(matches!(
            stripe_failure(error(429, "rate")),
            CustomerError::StripeUnavailable(_)
        ));
        assert!(matches!(
            stripe_failure(error(503, "down")),
            CustomerError::StripeUnavailable(_)
        ));
        assert!(matches!(
            stripe_failure(error(403, "no access")),
            CustomerError::NotConnected
        ));
        assert!(matches!(
            customer_failure(error(404, "No such customer"), "cus_1"),
            CustomerError::NotFound(_)
        ));
        let portal = portal_failure(error(
            400,
            "You can’t create a portal session in test mode until you save your customer portal settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal.",
        ));
        assert!(
            matches!(portal, CustomerError::PortalNotConfigured(m) if m.contains("portal settings"))
        );
        let timeout = StripeError::new(StripeErrorKind::Timeout, "slow");
        assert!(matches!(
            stripe_failure(timeout),
            CustomerError::StripeTimeout(_)
        ));
    }
}
