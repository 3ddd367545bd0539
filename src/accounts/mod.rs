//! Business and admin accounts: sign-up, password login with throttling, and the
//! admin-only role. Plain functions over the database; no HTTP types.

mod passwords;
pub mod sessions;
pub mod throttle;

pub use passwords::{hash_password, verify_password};

use crate::clock::Clock;
use crate::config::ThrottleSettings;
use crate::db::types::UserId;
use crate::db::{self, users, Committed, DbError};
use crate::events::{AccountEvent, Actor, Database, DomainEvent};

pub use crate::db::users::User;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("email or password is incorrect")]
    WrongCredentials,
    #[error("too many failed attempts; try again in {retry_after_seconds} seconds")]
    Throttled { retry_after_seconds: i64 },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("could not hash the password")]
    PasswordHash(#[source] argon2::password_hash::Error),
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::Db(e.into())
    }
}

/// A field that failed validation, with a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A normalised (trimmed, lower-cased) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let email = raw.trim().to_lowercase();
        let invalid = || InvalidInput::new("email", "enter an email address like name@example.com");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        if local.is_empty() || domain.len() < 3 || !domain.contains('.') || domain.contains('@') {
            return Err(invalid());
        }
        if domain.starts_with('.') || domain.ends_with('.') {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the length rule (NIST 800-63B: length, not composition).
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(InvalidInput::new(
                "password",
                format!("use at least {} characters", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(InvalidInput::new(
                "password",
                format!("use at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessName(String);

impl BusinessName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(InvalidInput::new(
                "business_name",
                "enter your business name",
            ));
        }
        if name.chars().count() > 120 || name.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "business_name",
                "use at most 120 printable characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }
}

pub struct NewAccount {
    pub email: Email,
    pub password: NewPassword,
    pub business_name: BusinessName,
    pub is_admin: bool,
}

/// Creates an account (sign-up page, `user create`, `admin create`).
pub async fn create_account(
    db: &Database,
    clock: &dyn Clock,
    account: NewAccount,
    actor: Actor,
) -> Result<User, AccountError> {
    // Hash outside the transaction: it is the slow part and needs no database.
    let password_hash = hash_password(&account.password.0).map_err(AccountError::PasswordHash)?;
    let now = clock.now();
    db.write(move |tx| {
        if users::find_by_email(tx.conn, account.email.as_str())?.is_some() {
            return Err(AccountError::EmailTaken);
        }
        let user = users::insert(
            tx.conn,
            &users::NewUser {
                email: account.email.as_str(),
                password_hash: &password_hash,
                business_name: &account.business_name.0,
                is_admin: account.is_admin,
                created_at: now,
            },
        )
        .map_err(|e| match DbError::from(e) {
            e if e.is_unique_violation() => AccountError::EmailTaken,
            e => AccountError::Db(e),
        })?;
        tx.publish(DomainEvent::new(
            Actor {
                user_id: actor.user_id.or(Some(user.id)),
                ..actor
            },
            now,
            AccountEvent::Created {
                email: user.email.clone(),
                is_admin: user.is_admin,
            },
        ));
        Ok(user)
    })
    .await
}

/// Checks an email and password, counting failures per account and per IP so that
/// several instances share one view of who is throttled.
pub async fn authenticate(
    db: &Database,
    clock: &dyn Clock,
    limits: ThrottleSettings,
    email: &str,
    password: &str,
    ip: Option<String>,
) -> Result<User, AccountError> {
    let email = email.trim().to_lowercase();
    let now = clock.now();
    let throttle = throttle::Throttle::new(limits.window_seconds, now);

    // Refuse early, before spending a password hash, when either key is over its limit.
    let lookup_email = email.clone();
    let lookup_ip = ip.clone();
    let (user, blocked) = db
        .read(move |conn| {
            let blocked = throttle
                .check(
                    conn,
                    throttle::LOGIN_ACCOUNT,
                    &lookup_email,
                    limits.max_failures_per_account,
                )?
                .or(match &lookup_ip {
                    Some(ip) => {
                        throttle.check(conn, throttle::LOGIN_IP, ip, limits.max_failures_per_ip)?
                    }
                    None => None,
                });
            let user = users::find_by_email(conn, &lookup_email)?;
            Ok::<_, AccountError>((user, blocked))
        })
        .await?;

    if let Some(retry_after_seconds) = blocked {
        let event_email = email.clone();
        db.write(move |tx| {
            tx.publish(DomainEvent::new(
                Actor::anonymous(ip),
                now,
                AccountEvent::LoginThrottled { email: event_email },
            ));
            Ok::<_, AccountError>(())
        })
        .await?;
        return Err(AccountError::Throttled {
            retry_after_seconds,
        });
    }

    // Verify against a dummy hash for unknown emails so timing does not reveal which
    // addresses have accounts.
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    let candidate = password.to_owned();
    let verified = tokio::task::spawn_blocking(move || match stored_hash {
        Some(hash) => verify_password(&candidate, &hash),
        None => {
            passwords::burn_equivalent_time(&candidate);
            false
        }
    })
    .await
    .map_err(DbError::task)?;

    // A failure is counted and committed, then reported.
    db.write(move |tx| match user {
        Some(user) if verified => {
            db::auth_failures::clear(tx.conn, throttle::LOGIN_ACCOUNT, &user.email)?;
            tx.publish(DomainEvent::new(
                Actor::user(user.id, &user.email, ip),
                now,
                AccountEvent::LoggedIn {
                    email: user.email.clone(),
                },
            ));
            Ok::<_, AccountError>(Committed::Done(user))
        }
        user => {
            throttle.record(tx.conn, throttle::LOGIN_ACCOUNT, &email)?;
            if let Some(ip) = &ip {
                throttle.record(tx.conn, throttle::LOGIN_IP, ip)?;
            }
            tx.publish(DomainEvent::new(
                Actor {
                    user_id: user.map(|u| u.id),
                    label: None,
                    ip,
                },
                now,
                AccountEvent::LoginFailed { email },
            ));
            Ok(Committed::Refused(AccountError::WrongCredentials))
        }
    })
    .await?
    .into_result()
}

pub async fn find_user(db: &Database, id: UserId) -> Result<Option<User>, AccountError> {
    db.read(move |conn| Ok(users::find(conn, id)?)).await
}

pub async fn list_users(db: &Database, limit: i64) -> Result<Vec<User>, AccountError> {
    db.read(move |conn| Ok(users::list(conn, limit)?)).await
}

pub async fn any_admin(db: &Database) -> Result<bool, AccountError> {
    db.read(|conn| Ok(users::any_admin(conn)?)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").expect("valid").as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "a b@example.com",
            "ada@x",
            "a@b@c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn password_must_be_long_enough() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("long enough pass").is_ok());
        assert!(NewPassword::parse(&"x".repeat(257)).is_err());
    }

    #[test]
    fn business_name_is_required() {
        assert!(BusinessName::parse("   ").is_err());
        assert_eq!(
            BusinessName::parse(" Acme ").expect("valid"),
            BusinessName("Acme".into())
        );
    }
}
