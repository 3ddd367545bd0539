//! What happens to accounts and sessions.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountEvent {
    Created { email: String, is_admin: bool },
    LoggedIn { email: String },
    LoginFailed { email: String },
    LoginThrottled { email: String },
    LoggedOut { email: String },
}

impl AccountEvent {
    pub fn action(&self) -> &'static str {
        match self {
            AccountEvent::Created { .. } => "account.created",
            AccountEvent::LoggedIn { .. } => "session.login",
            AccountEvent::LoginFailed { .. } => "session.login_failed",
            AccountEvent::LoginThrottled { .. } => "session.login_throttled",
            AccountEvent::LoggedOut { .. } => "session.logout",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            AccountEvent::Created { email, is_admin } => {
                let role = if *is_admin { "admin" } else { "business" };
                format!("{role} account {email}")
            }
            AccountEvent::LoggedIn { email }
            | AccountEvent::LoginFailed { email }
            | AccountEvent::LoginThrottled { email }
            | AccountEvent::LoggedOut { email } => email.clone(),
        }
    }
}
