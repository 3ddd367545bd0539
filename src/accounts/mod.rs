//! Business and admin accounts: sign-up, password login with throttling, and the
//! admin-only role. Plain functions over the database; no HTTP types.

mod passwords;
pub mod sessions;
pub mod throttle;

pub use passwords::{hash_password, verify_password};

use crate::clock::Clock;
use crate::config::ThrottleSettings;
use crate::db::types::{SessionId, UserId};
use crate::db::{self, user_sessions, users, Committed, DbError};
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
    #[error(transparent)]
    Busy(#[from] passwords::Busy),
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
    let password = account.password.0.clone();
    let password_hash = passwords::hashing_slot()?
        .run(move || hash_password(&password))
        .await
        .map_err(DbError::task)?
        .map_err(AccountError::PasswordHash)?;
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
///
/// The attempt is reserved before the password hash, in one write that locks the
/// account's and the IP's counters, counts, decides, and records the attempt as a
/// failure ([`throttle::Throttle::reserve`]): of N concurrent attempts at most the
/// limit reach the hash. A success then deletes its reservation and the account's
/// earlier failures.
pub async fn authenticate(
    db: &Database,
    clock: &dyn Clock,
    limits: ThrottleSettings,
    email: &str,
    password: &str,
    ip: Option<String>,
) -> Result<User, AccountError> {
    check_credentials(db, clock, limits, email, password, ip, Purpose::LogIn).await
}

/// Why a password is checked: a login is audited as one; asking a logged-in person
/// for their password again (before a change) is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    LogIn,
    Reauthenticate,
}

async fn check_credentials(
    db: &Database,
    clock: &dyn Clock,
    limits: ThrottleSettings,
    email: &str,
    password: &str,
    ip: Option<String>,
    purpose: Purpose,
) -> Result<User, AccountError> {
    let email = email.trim().to_lowercase();
    let now = clock.now();
    let throttle = throttle::Throttle::new(limits.window_seconds, now);

    let reserve_email = email.clone();
    let reserve_ip = ip.clone();
    let (user, reservation) = db
        .write(move |tx| {
            let mut counters = vec![throttle::Limit::new(
                throttle::LOGIN_ACCOUNT,
                reserve_email.as_str(),
                limits.max_failures_per_account,
            )];
            if let Some(ip) = &reserve_ip {
                counters.push(throttle::Limit::new(
                    throttle::LOGIN_IP,
                    ip.as_str(),
                    limits.max_failures_per_ip,
                ));
            }
            match throttle.reserve(tx.conn, &counters)? {
                Err(retry_after_seconds) => {
                    tx.publish(DomainEvent::new(
                        Actor::anonymous(reserve_ip),
                        now,
                        AccountEvent::LoginThrottled {
                            email: reserve_email,
                        },
                    ));
                    Ok(Committed::Refused(AccountError::Throttled {
                        retry_after_seconds,
                    }))
                }
                Ok(reservation) => {
                    let user = users::find_by_email(tx.conn, &reserve_email)?;
                    Ok::<_, AccountError>(Committed::Done((user, reservation)))
                }
            }
        })
        .await?
        .into_result()?;

    // A throttled attempt never got here, so it took no place in the queue of password
    // work; when the queue is full, the reservation is released: a busy answer counts
    // no attempt.
    let slot = match passwords::hashing_slot() {
        Ok(slot) => slot,
        Err(busy) => {
            let ids = reservation.ids.clone();
            db.write(move |tx| {
                Ok::<_, AccountError>(db::auth_failures::delete_ids(tx.conn, &ids)?)
            })
            .await?;
            return Err(busy.into());
        }
    };

    // Verify against a dummy hash for unknown emails so timing does not reveal which
    // addresses have accounts.
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    let candidate = password.to_owned();
    let verified = slot
        .run(move || match stored_hash {
            Some(hash) => verify_password(&candidate, &hash),
            None => {
                passwords::burn_equivalent_time(&candidate);
                false
            }
        })
        .await
        .map_err(DbError::task)?;

    // A failure is already counted (the reservation stays); it is committed with its
    // audit line, then reported.
    db.write(move |tx| match user {
        Some(user) if verified => {
            // The account's reservation is the first row, the IP's (if any) the next.
            if let Some((&account_row, ip_rows)) = reservation.ids.split_first() {
                db::auth_failures::clear_through(
                    tx.conn,
                    throttle::LOGIN_ACCOUNT,
                    &email,
                    account_row,
                )?;
                db::auth_failures::delete_ids(tx.conn, ip_rows)?;
            }
            if purpose == Purpose::LogIn {
                tx.publish(DomainEvent::new(
                    Actor::user(user.id, &user.email, ip),
                    now,
                    AccountEvent::LoggedIn {
                        email: user.email.clone(),
                    },
                ));
            }
            Ok::<_, AccountError>(Committed::Done(user))
        }
        user => {
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

/// A logged-in person's request to change their password.
pub struct PasswordChange<'a> {
    pub user: &'a User,
    /// The session they asked from, which stays.
    pub session: SessionId,
    pub current_password: &'a str,
    pub new_password: NewPassword,
}

/// Changes `user`'s password once the current one is given again (throttled like a
/// login), and ends every other session of theirs in the same transaction: whoever
/// knew the old password, or holds a copied cookie, is out. Returns how many sessions
/// ended.
pub async fn change_password(
    db: &Database,
    clock: &dyn Clock,
    sessions: &sessions::Sessions,
    limits: ThrottleSettings,
    change: PasswordChange<'_>,
    ip: Option<String>,
) -> Result<usize, AccountError> {
    let user = check_credentials(
        db,
        clock,
        limits,
        &change.user.email,
        change.current_password,
        ip.clone(),
        Purpose::Reauthenticate,
    )
    .await?;
    let current_session = change.session;
    let new_password = change.new_password;
    let password_hash = passwords::hashing_slot()?
        .run(move || hash_password(&new_password.0))
        .await
        .map_err(DbError::task)?
        .map_err(AccountError::PasswordHash)?;
    let now = clock.now();
    let user_id = user.id;
    let ended = db
        .write(move |tx| {
            users::set_password_hash(tx.conn, user.id, &password_hash)?;
            let ended =
                user_sessions::delete_all_for_user(tx.conn, user.id, Some(current_session))?;
            tx.publish(DomainEvent::new(
                Actor::user(user.id, &user.email, ip),
                now,
                AccountEvent::PasswordChanged {
                    email: user.email.clone(),
                    sessions_ended: ended,
                },
            ));
            Ok::<_, AccountError>(ended)
        })
        .await?;
    sessions.forget_user(user_id);
    Ok(ended)
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
