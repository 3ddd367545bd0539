//! What happens to the platform's Stripe settings and the businesses' connections.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeEvent {
    SettingsSaved {
        livemode: bool,
    },
    WebhookSecretAdded {
        hint: String,
    },
    WebhookSecretRemoved {
        hint: String,
    },
    Connected {
        account: String,
        livemode: bool,
        scope: String,
    },
    /// The business disconnected (`by` says whether Stripe still knew the connection).
    Disconnected {
        account: String,
        by: &'static str,
    },
    /// Stripe told us, by webhook, that the account's owner removed the platform.
    Deauthorized {
        account: String,
        event_id: String,
    },
}

fn mode(livemode: bool) -> &'static str {
    if livemode {
        "live"
    } else {
        "test"
    }
}

impl StripeEvent {
    pub fn action(&self) -> &'static str {
        match self {
            StripeEvent::SettingsSaved { .. } => "stripe.settings_saved",
            StripeEvent::WebhookSecretAdded { .. } => "stripe.webhook_secret_added",
            StripeEvent::WebhookSecretRemoved { .. } => "stripe.webhook_secret_removed",
            StripeEvent::Connected { .. } => "stripe.connected",
            StripeEvent::Disconnected { .. } => "stripe.disconnected",
            StripeEvent::Deauthorized { .. } => "stripe.deauthorized",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            StripeEvent::SettingsSaved { livemode } => format!("mode: {}", mode(*livemode)),
            StripeEvent::WebhookSecretAdded { hint }
            | StripeEvent::WebhookSecretRemoved { hint } => hint.clone(),
            StripeEvent::Connected {
                account,
                livemode,
                scope,
            } => format!("{account} ({} mode, scope {scope})", mode(*livemode)),
            StripeEvent::Disconnected { account, by } => format!("{account} ({by})"),
            StripeEvent::Deauthorized { account, event_id } => {
                format!("{account} (event {event_id})")
            }
        }
    }
}
