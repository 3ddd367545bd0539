//! Domain events: a use case records what happened; subscribers registered at start-up
//! (the audit log) react inside the use case's own transaction, once the use case has
//! succeeded. The change and what the subscribers write commit together or not at all:
//! there is no issued token without its audit line, and no audit line for a change
//! that rolled back.
//!
//! The bus is the database's [`AfterUseCase`] hook; `db` knows only that trait. What
//! can happen is typed per domain (`accounts`, `oauth`, `stripe`, `customers`), each
//! in a file of its own here, so an audit line cannot name an action nobody emits.

mod accounts;
mod customers;
mod oauth;
mod stripe;

pub use accounts::AccountEvent;
pub use customers::CustomerEvent;
pub use oauth::{IssuedGrant, OAuthEvent, RevokedToken};
pub use stripe::StripeEvent;

/// The service's database: the audit log (and any other subscriber) runs inside each
/// writing use case's transaction.
pub type Database = crate::db::Database<EventBus>;

/// What a writing use case of this service gets (see [`crate::db::Tx`]).
pub type Tx<'a> = crate::db::Tx<'a, DomainEvent>;

use crate::db::types::UserId;
use crate::db::{AfterUseCase, DbConnection, DbError};

/// Who did something, and from where.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<UserId>,
    /// An email, a client id, "cli", "stripe": whatever names the actor to a person.
    pub label: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn user(user_id: UserId, email: &str, ip: Option<String>) -> Self {
        Self {
            user_id: Some(user_id),
            label: Some(email.to_owned()),
            ip,
        }
    }

    /// An OAuth client, authenticated at the token or revocation endpoint.
    pub fn client(client_id: &str, ip: Option<String>) -> Self {
        Self {
            user_id: None,
            label: Some(format!("client {client_id}")),
            ip,
        }
    }

    pub fn system(label: &str) -> Self {
        Self {
            user_id: None,
            label: Some(label.to_owned()),
            ip: None,
        }
    }

    pub fn anonymous(ip: Option<String>) -> Self {
        Self {
            user_id: None,
            label: None,
            ip,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DomainEvent {
    pub actor: Actor,
    pub occurred_at: i64,
    pub kind: EventKind,
}

/// Everything that is worth an audit line, by the domain it happens in. Values here
/// never include secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Account(AccountEvent),
    OAuth(OAuthEvent),
    Stripe(StripeEvent),
    Customer(CustomerEvent),
}

impl EventKind {
    /// A stable, dotted name for the audit log.
    pub fn action(&self) -> &'static str {
        match self {
            EventKind::Account(event) => event.action(),
            EventKind::OAuth(event) => event.action(),
            EventKind::Stripe(event) => event.action(),
            EventKind::Customer(event) => event.action(),
        }
    }

    /// A failure anybody can cause as often as they like (a wrong password, an unknown
    /// or wrongly authenticated client): the audit log counts its repetitions instead
    /// of writing a line for each.
    pub fn is_repeatable_failure(&self) -> bool {
        matches!(
            self,
            EventKind::Account(AccountEvent::LoginFailed { .. })
                | EventKind::Account(AccountEvent::LoginThrottled { .. })
                | EventKind::OAuth(OAuthEvent::ClientAuthFailed { .. })
        )
    }

    /// What a person reads in the audit log.
    pub fn detail(&self) -> String {
        match self {
            EventKind::Account(event) => event.detail(),
            EventKind::OAuth(event) => event.detail(),
            EventKind::Stripe(event) => event.detail(),
            EventKind::Customer(event) => event.detail(),
        }
    }
}

macro_rules! into_event_kind {
    ($($domain:ident => $variant:ident),+ $(,)?) => {
        $(impl From<$domain> for EventKind {
            fn from(event: $domain) -> Self {
                EventKind::$variant(event)
            }
        })+
    };
}

into_event_kind!(
    AccountEvent => Account,
    OAuthEvent => OAuth,
    StripeEvent => Stripe,
    CustomerEvent => Customer,
);

impl DomainEvent {
    pub fn new(actor: Actor, occurred_at: i64, kind: impl Into<EventKind>) -> Self {
        Self {
            actor,
            occurred_at,
            kind: kind.into(),
        }
    }
}

/// A reaction to events. It gets the connection of the use case, inside its
/// transaction; an error rolls the use case back.
pub trait Subscriber: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn handle(&self, event: &DomainEvent, conn: &mut DbConnection) -> Result<(), String>;
}

#[derive(Default)]
pub struct EventBus {
    subscribers: Vec<Box<dyn Subscriber>>,
}

impl EventBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn subscribe(mut self, subscriber: impl Subscriber) -> Self {
        self.subscribers.push(Box::new(subscriber));
        self
    }
}

impl AfterUseCase for EventBus {
    type Record = DomainEvent;

    /// Hands each event to each subscriber in order; the first failure stops and is
    /// returned, so the use case is rolled back.
    fn after_use_case(
        &self,
        events: &[DomainEvent],
        conn: &mut DbConnection,
    ) -> Result<(), DbError> {
        for event in events {
            for subscriber in &self.subscribers {
                subscriber
                    .handle(event, conn)
                    .map_err(|error| DbError::Subscriber {
                        subscriber: subscriber.name(),
                        error,
                    })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::audit::AuditLog;
    use crate::db::{audit_events, DatabaseUrl, DbError};

    struct Failing;
    impl Subscriber for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }
        fn handle(&self, _: &DomainEvent, _: &mut DbConnection) -> Result<(), String> {
            Err("boom".into())
        }
    }

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);
    impl Subscriber for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        fn handle(&self, event: &DomainEvent, _: &mut DbConnection) -> Result<(), String> {
            self.0
                .lock()
                .map_err(|e| e.to_string())?
                .push(event.kind.detail());
            Ok(())
        }
    }

    fn event(detail: &str) -> DomainEvent {
        DomainEvent::new(
            Actor::system("test"),
            0,
            CustomerEvent::Forgotten {
                customer_id: detail.into(),
            },
        )
    }

    fn database(bus: EventBus) -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DatabaseUrl::Sqlite(dir.path().join("events.db").display().to_string());
        (Database::connect(&url, 1, bus).expect("database"), dir)
    }

    fn audit_lines(db: &Database) -> Vec<String> {
        db.read_blocking(|conn| {
            Ok::<_, DbError>(
                audit_events::list(conn, None, 100)?
                    .into_iter()
                    .map(|e| e.detail)
                    .collect(),
            )
        })
        .expect("audit lines")
    }

    #[test]
    fn the_audit_line_commits_with_the_use_case() {
        let (db, _dir) = database(EventBus::new().subscribe(AuditLog));
        let outcome = db.write_blocking(|tx| {
            tx.publish(event("committed"));
            Ok::<_, DbError>(42)
        });
        assert_eq!(outcome.expect("use case succeeds"), 42);
        assert_eq!(audit_lines(&db), vec!["committed".to_owned()]);
    }

    #[test]
    fn a_failing_subscriber_rolls_the_use_case_back() {
        let recorder = Recorder::default();
        let (db, _dir) = database(
            EventBus::new()
                .subscribe(AuditLog)
                .subscribe(Failing)
                .subscribe(recorder.clone()),
        );
        let outcome: Result<(), DbError> = db.write_blocking(|tx| {
            tx.publish(event("never recorded"));
            Ok(())
        });
        assert!(matches!(
            outcome,
            Err(DbError::Subscriber {
                subscriber: "failing",
                ..
            })
        ));
        assert!(
            audit_lines(&db).is_empty(),
            "the audit line rolled back too"
        );
        assert!(recorder.0.lock().expect("lock").is_empty());
    }

    #[test]
    fn events_of_a_failed_use_case_reach_no_subscriber() {
        let recorder = Recorder::default();
        let (db, _dir) = database(EventBus::new().subscribe(recorder.clone()));
        let outcome: Result<(), DbError> = db.write_blocking(|tx| {
            tx.publish(event("rolled back"));
            Err(DbError::Task("use case failed".into()))
        });
        assert!(outcome.is_err());
        assert!(recorder.0.lock().expect("lock").is_empty());
        assert!(audit_lines(&db).is_empty());
    }
}
