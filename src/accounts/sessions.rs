//! Logged-in browser sessions, kept in the database: the cookie carries a random token
//! and the `user_sessions` row (found by the token's keyed hash, like every other
//! credential's) says who is logged in,
//! since when, from where. Deleting the row ends the session at every instance, so a
//! copied cookie stops working at logout, and a person (or an admin) can end sessions
//! they no longer trust.
//!
//! A session ends by time too: [`SessionSettings::lifetime_seconds`] after login
//! whatever happens, or after [`SessionSettings::idle_seconds`] without a request. The
//! last request's time is written at most once every [`TOUCH_AFTER_SECONDS`], so the
//! idle limit holds to within that.
//!
//! Every page request reads its session, so each instance answers from a cache for up
//! to [`CACHE_SECONDS`]: a session ended at another instance (or by the command line)
//! stops working here within that bound; one ended at this instance stops at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::clock::SharedClock;
use crate::config::SessionSettings;
use crate::crypto::{random_token, CredentialHasher};
use crate::db::types::{SessionId, UserId};
use crate::db::user_sessions::{self, NewUserSession, UserSession};
use crate::events::{AccountEvent, Actor, Database, DomainEvent};

use super::{AccountError, User};

/// The last-request time is written when it is at least this old (seconds).
pub const TOUCH_AFTER_SECONDS: i64 = 60;

/// How long an instance answers from its cache (seconds of the service's clock): the
/// longest a session ended elsewhere keeps working here. The bound is 1 s.
pub const CACHE_SECONDS: i64 = 1;

/// Sessions cached per instance before the cache is emptied (a bound on memory, not a
/// limit on sessions: a miss costs one read).
const CACHE_CAPACITY: usize = 10_000;

/// What is kept of a user agent and an IP address (characters).
const MAX_USER_AGENT_CHARS: usize = 200;
const MAX_IP_CHARS: usize = 64;

/// The secret a session cookie holds: 32 random bytes, base64url (43 characters).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    const BYTES: usize = 32;
    const CHARS: usize = 43;

    fn generate() -> Self {
        Self(random_token(Self::BYTES))
    }

    /// The token a cookie says it holds; `None` when it cannot be one of ours (so that
    /// no lookup is spent on it).
    pub fn parse(raw: &str) -> Option<Self> {
        let plausible = raw.len() == Self::CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then(|| Self(raw.to_owned()))
    }

    /// For the cookie only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(hidden)")
    }
}

/// A live session and the user it logs in.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub session_id: SessionId,
    pub user: User,
}

/// Where a login came from, as the account page shows it.
#[derive(Debug, Clone, Default)]
pub struct LoginOrigin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl LoginOrigin {
    pub fn new(ip: Option<String>, user_agent: Option<&str>) -> Self {
        Self {
            ip: ip.map(|ip| truncate(&ip, MAX_IP_CHARS)),
            user_agent: user_agent.map(|ua| truncate(ua, MAX_USER_AGENT_CHARS)),
        }
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect()
}

struct Cached {
    session: UserSession,
    user: User,
    read_at: i64,
}

/// The session use cases, with this instance's cache (see the module's documentation).
#[derive(Clone)]
pub struct Sessions {
    db: Database,
    clock: SharedClock,
    hasher: CredentialHasher,
    settings: SessionSettings,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    /// Counts invalidations, so that a read that began before one is not cached after it.
    generation: Arc<AtomicU64>,
}

impl Sessions {
    pub fn new(
        db: Database,
        clock: SharedClock,
        hasher: CredentialHasher,
        settings: SessionSettings,
    ) -> Self {
        Self {
            db,
            clock,
            hasher,
            settings,
            cache: Arc::default(),
            generation: Arc::default(),
        }
    }

    pub fn settings(&self) -> SessionSettings {
        self.settings
    }

    /// The lookup key stored instead of the token.
    fn key(&self, token: &SessionToken) -> String {
        self.hasher.hash(token.expose())
    }

    /// Starts a session for a user who just proved who they are, ending the session the
    /// browser had before (a fresh token at every login: no fixation).
    pub async fn start(
        &self,
        user: &User,
        replaces: Option<SessionToken>,
        origin: LoginOrigin,
    ) -> Result<SessionToken, AccountError> {
        let token = SessionToken::generate();
        let token_hash = self.key(&token);
        let replaced_hash = replaces.as_ref().map(|old| self.key(old));
        let replaced = replaced_hash.clone();
        let now = self.clock.now();
        let user_id = user.id;
        let expires_at = now + self.settings.lifetime_seconds;
        self.db
            .write(move |tx| {
                if let Some(old) = &replaced {
                    user_sessions::delete_by_token_hash(tx.conn, old)?;
                }
                user_sessions::insert(
                    tx.conn,
                    &NewUserSession {
                        token_hash: &token_hash,
                        user_id,
                        created_at: now,
                        last_seen_at: now,
                        expires_at,
                        ip: origin.ip.as_deref(),
                        user_agent: origin.user_agent.as_deref(),
                    },
                )?;
                Ok::<_, AccountError>(())
            })
            .await?;
        if let Some(old) = replaced_hash {
            self.forget(|key, _| *key == old);
        }
        Ok(token)
    }

    /// The live session this token names, and its user; `None` when it never existed,
    /// was ended, or has expired.
    pub async fn resolve(&self, token: &SessionToken) -> Result<Option<SessionUser>, AccountError> {
        let key = self.key(token);
        let now = self.clock.now();
        if let Some(cached) = self.cached(&key, now) {
            return Ok(cached);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let lookup = key.clone();
        let found = self
            .db
            .read(move |conn| Ok::<_, AccountError>(user_sessions::find_with_user(conn, &lookup)?))
            .await?;
        let Some((mut session, user)) = found else {
            self.forget(|cached, _| *cached == key);
            return Ok(None);
        };
        if !self.is_live(&session, now) {
            self.forget(|cached, _| *cached == key);
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_AFTER_SECONDS {
            let id = session.id;
            self.db
                .write(move |tx| {
                    user_sessions::touch(tx.conn, id, now)?;
                    Ok::<_, AccountError>(())
                })
                .await?;
            session.last_seen_at = now;
        }
        let found = SessionUser {
            session_id: session.id,
            user: user.clone(),
        };
        self.remember(key, session, user, now, generation);
        Ok(Some(found))
    }

    /// Logout: ends this session everywhere.
    pub async fn end(
        &self,
        token: &SessionToken,
        user: &User,
        ip: Option<String>,
    ) -> Result<(), AccountError> {
        let key = self.key(token);
        let event = DomainEvent::new(
            Actor::user(user.id, &user.email, ip),
            self.clock.now(),
            AccountEvent::LoggedOut {
                email: user.email.clone(),
            },
        );
        let lookup = key.clone();
        self.db
            .write(move |tx| {
                user_sessions::delete_by_token_hash(tx.conn, &lookup)?;
                tx.publish(event);
                Ok::<_, AccountError>(())
            })
            .await?;
        self.forget(|cached, _| *cached == key);
        Ok(())
    }

    /// Ends one of `user`'s sessions (from the account page); `false` when it is not
    /// theirs or already ended.
    pub async fn end_one(
        &self,
        user: &User,
        session_id: SessionId,
        ip: Option<String>,
    ) -> Result<bool, AccountError> {
        let user_id = user.id;
        let ended = self
            .end_where(
                user_id,
                Actor::user(user_id, &user.email, ip),
                move |conn| user_sessions::delete_for_user(conn, user_id, session_id),
            )
            .await?;
        Ok(ended > 0)
    }

    /// Ends every session of `user` but `current` (the account page's "log out other
    /// sessions", and what a password change does).
    pub async fn end_others(
        &self,
        user: &User,
        current: SessionId,
        ip: Option<String>,
    ) -> Result<usize, AccountError> {
        let user_id = user.id;
        self.end_where(
            user_id,
            Actor::user(user.id, &user.email, ip),
            move |conn| user_sessions::delete_all_for_user(conn, user_id, Some(current)),
        )
        .await
    }

    /// Ends every session of the business `user_id` (an admin, or the command line).
    pub async fn end_all(&self, user_id: UserId, actor: Actor) -> Result<usize, AccountError> {
        self.end_where(user_id, actor, move |conn| {
            user_sessions::delete_all_for_user(conn, user_id, None)
        })
        .await
    }

    async fn end_where(
        &self,
        user_id: UserId,
        actor: Actor,
        delete: impl FnOnce(&mut crate::db::DbConnection) -> diesel::QueryResult<usize>
            + Clone
            + Send
            + 'static,
    ) -> Result<usize, AccountError> {
        let now = self.clock.now();
        let ended = self
            .db
            .write(move |tx| {
                let ended = delete(tx.conn)?;
                let email = crate::db::users::find(tx.conn, user_id)?
                    .map(|u| u.email)
                    .unwrap_or_default();
                if ended > 0 {
                    tx.publish(DomainEvent::new(
                        actor,
                        now,
                        AccountEvent::SessionsEnded {
                            email,
                            count: ended,
                        },
                    ));
                }
                Ok::<_, AccountError>(ended)
            })
            .await?;
        self.forget(|_, cached| cached.user.id == user_id);
        Ok(ended)
    }

    /// The user's live sessions, most recently used first.
    pub async fn list(&self, user_id: UserId) -> Result<Vec<UserSession>, AccountError> {
        let now = self.clock.now();
        let idle_since = now - self.settings.idle_seconds;
        self.db
            .read(move |conn| {
                Ok(user_sessions::list_live_for_user(
                    conn, user_id, now, idle_since,
                )?)
            })
            .await
    }

    /// Removes the rows of sessions that had ended by time at `now` (the maintenance
    /// task).
    pub async fn prune(&self, now: i64) -> Result<usize, AccountError> {
        let idle_since = now - self.settings.idle_seconds;
        self.db
            .write(move |tx| Ok(user_sessions::delete_expired(tx.conn, now, idle_since)?))
            .await
    }

    fn is_live(&self, session: &UserSession, now: i64) -> bool {
        session.expires_at > now && now - session.last_seen_at < self.settings.idle_seconds
    }

    /// The cached answer, when fresh: `Some(None)` for a session that has expired since.
    fn cached(&self, key: &str, now: i64) -> Option<Option<SessionUser>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = cache.get(key)?;
        if now - cached.read_at >= CACHE_SECONDS {
            return None;
        }
        Some(self.is_live(&cached.session, now).then(|| SessionUser {
            session_id: cached.session.id,
            user: cached.user.clone(),
        }))
    }

    fn remember(&self, key: String, session: UserSession, user: User, now: i64, generation: u64) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        // An invalidation since the read began: the read may predate it.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, cached| now - cached.read_at < CACHE_SECONDS);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                session,
                user,
                read_at: now,
            },
        );
    }

    /// Drops what this instance cached of `user_id`'s sessions (after a change that
    /// ended some of them in the database).
    pub(super) fn forget_user(&self, user_id: UserId) {
        self.forget(|_, cached| cached.user.id == user_id);
    }

    fn forget(&self, matches: impl Fn(&String, &Cached) -> bool) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.retain(|key, cached| !matches(key, cached));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_value_that_cannot_be_a_token_is_refused_before_any_lookup() {
        let token = SessionToken::generate();
        assert_eq!(SessionToken::parse(token.expose()), Some(token.clone()));
        for bad in ["", "short", &"a".repeat(44), &format!("{}=", &token.0[1..])] {
            assert_eq!(SessionToken::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_token_never_prints() {
        let token = SessionToken::generate();
        assert_eq!(format!("{token:?}"), "SessionToken(hidden)");
    }

    #[test]
    fn what_is_kept_of_a_login_origin_is_short_and_printable() {
        let origin = LoginOrigin::new(Some("203.0.113.7".into()), Some(&"x\n".repeat(500)));
        assert_eq!(origin.ip.as_deref(), Some("203.0.113.7"));
        let ua = origin.user_agent.expect("kept");
        assert_eq!(ua.chars().count(), MAX_USER_AGENT_CHARS);
        assert!(!ua.contains('\n'));
    }
}
