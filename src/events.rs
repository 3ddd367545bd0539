//! Domain events: a use case records what happened; subscribers registered at start-up
//! react after the use case's transaction commits. A failing subscriber is logged and
//! never fails the request that published the event.

use crate::db::DbConnection;

/// Who did something, and from where.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<i64>,
    /// An email, a client id, "cli", "stripe": whatever names the actor to a person.
    pub label: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn user(user_id: i64, email: &str, ip: Option<String>) -> Self {
        Self {
            user_id: Some(user_id),
            label: Some(email.to_owned()),
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

/// Everything that is worth an audit line. Values here never include secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    AccountCreated {
        email: String,
        is_admin: bool,
    },
    LoggedIn {
        email: String,
    },
    LoginFailed {
        email: String,
    },
    LoginThrottled {
        email: String,
    },
    LoggedOut {
        email: String,
    },
    StripeSettingsSaved {
        livemode: bool,
    },
    WebhookSecretAdded {
        hint: String,
    },
    WebhookSecretRemoved {
        hint: String,
    },
    /// Events from other domains describe themselves.
    Other {
        action: String,
        detail: String,
    },
}

impl EventKind {
    /// A stable, dotted name for the audit log.
    pub fn action(&self) -> &str {
        match self {
            EventKind::AccountCreated { .. } => "account.created",
            EventKind::LoggedIn { .. } => "session.login",
            EventKind::LoginFailed { .. } => "session.login_failed",
            EventKind::LoginThrottled { .. } => "session.login_throttled",
            EventKind::LoggedOut { .. } => "session.logout",
            EventKind::StripeSettingsSaved { .. } => "stripe.settings_saved",
            EventKind::WebhookSecretAdded { .. } => "stripe.webhook_secret_added",
            EventKind::WebhookSecretRemoved { .. } => "stripe.webhook_secret_removed",
            EventKind::Other { action, .. } => action,
        }
    }

    pub fn detail(&self) -> String {
        match self {
            EventKind::AccountCreated { email, is_admin } => {
                let role = if *is_admin { "admin" } else { "business" };
                format!("{role} account {email}")
            }
            EventKind::LoggedIn { email }
            | EventKind::LoginFailed { email }
            | EventKind::LoginThrottled { email }
            | EventKind::LoggedOut { email } => email.clone(),
            EventKind::StripeSettingsSaved { livemode } => {
                format!("mode: {}", if *livemode { "live" } else { "test" })
            }
            EventKind::WebhookSecretAdded { hint } | EventKind::WebhookSecretRemoved { hint } => {
                hint.clone()
            }
            EventKind::Other { detail, .. } => detail.clone(),
        }
    }
}

/// A reaction to committed events. It gets the connection the use case ran on (outside
/// the use case's transaction), so it can write without a second pool checkout.
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

    /// Hands each event to each subscriber in order. Errors are logged, not returned:
    /// the publisher's work is already committed.
    pub fn dispatch(&self, events: &[DomainEvent], conn: &mut DbConnection) {
        for event in events {
            for subscriber in &self.subscribers {
                if let Err(error) = subscriber.handle(event, conn) {
                    tracing::error!(
                        subscriber = subscriber.name(),
                        action = event.kind.action(),
                        %error,
                        "event subscriber failed"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::db::{Database, DatabaseUrl, DbError};

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
        DomainEvent {
            actor: Actor::system("test"),
            occurred_at: 0,
            kind: EventKind::Other {
                action: "test.event".into(),
                detail: detail.into(),
            },
        }
    }

    fn database(recorder: &Recorder) -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DatabaseUrl::Sqlite(dir.path().join("events.db").display().to_string());
        let bus = EventBus::new()
            .subscribe(Failing)
            .subscribe(recorder.clone());
        (Database::connect(&url, 1, bus).expect("database"), dir)
    }

    #[test]
    fn subscribers_run_after_commit_even_when_an_earlier_one_fails() {
        let recorder = Recorder::default();
        let (db, _dir) = database(&recorder);
        let outcome = db.run_blocking(|tx| {
            tx.publish(event("committed"));
            Ok::<_, DbError>(42)
        });
        assert_eq!(
            outcome.expect("use case succeeds despite the failing subscriber"),
            42
        );
        assert_eq!(
            *recorder.0.lock().expect("lock"),
            vec!["committed".to_owned()]
        );
    }

    #[test]
    fn events_of_a_rolled_back_use_case_are_dropped() {
        let recorder = Recorder::default();
        let (db, _dir) = database(&recorder);
        let outcome: Result<(), DbError> = db.run_blocking(|tx| {
            tx.publish(event("rolled back"));
            Err(DbError::Task("use case failed".into()))
        });
        assert!(outcome.is_err());
        assert!(recorder.0.lock().expect("lock").is_empty());
    }
}
