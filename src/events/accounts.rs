//! What happens to accounts and sessions.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountEvent {
    Created {
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
    /// Sessions ended other than by logging out: from the account page or by an admin.
    SessionsEnded {
        email: String,
        count: usize,
    },
    /// The account's password was changed; its other sessions ended with it.
    PasswordChanged {
        email: String,
        sessions_ended: usize,
    },
}

impl AccountEvent {
    pub fn action(&self) -> &'static str {
        match self {
            AccountEvent::Created { .. } => "account.created",
            AccountEvent::LoggedIn { .. } => "session.login",
            AccountEvent::LoginFailed { .. } => "session.login_failed",
            AccountEvent::LoginThrottled { .. } => "session.login_throttled",
            AccountEvent::LoggedOut { .. } => "session.logout",
            AccountEvent::SessionsEnded { .. } => "session.ended",
            AccountEvent::PasswordChanged { .. } => "account.password_changed",
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
            AccountEvent::PasswordChanged {
                email,
                sessions_ended,
            } => format!("{email}: {sessions_ended} other sessions ended"),
            AccountEvent::SessionsEnded { email, count } => {
                let sessions = if *count == 1 { "session" } else { "sessions" };
                format!("{email}: {count} {sessions}")
            }
        }
    }
}
