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
