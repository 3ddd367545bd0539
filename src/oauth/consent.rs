//! Consent and authorization codes: a user's grant to a client (remembered per client
//! and scope set unless the client asks every time), the codes issued under it, and
//! the "Authorized applications" list with revoke.

use crate::clock::unix_micros;
use crate::db::oauth_authorization_codes::{self, NewOAuthAuthorizationCode};
use crate::db::oauth_grants::{self, NewOAuthGrant, OAuthGrant};
use crate::db::users::User;
use crate::db::{oauth_clients, oauth_token_families, DbConnection, DbError};
use crate::events::{Actor, Database, OAuthEvent};

use super::authorize_request::{self, AuthorizeRequest, RedirectTarget};
use super::client::Client;
use super::code;
use super::error::OAuthError;
use super::params::Params;
use super::scope::ScopeSet;
use super::{event, OAuthContext};
use crate::db::types::{GrantId, UserId};

/// Stores a new code (≥ 32 random bytes, kept only as a keyed hash) bound to the
/// client, redirect URI, challenge, scope and user (R20, R33).
fn issue_code(
    conn: &mut DbConnection,
    ctx: &OAuthContext,
    client: &Client,
    user_id: UserId,
    grant_id: GrantId,
    request: &AuthorizeRequest,
    now: i64,
) -> Result<String, OAuthError> {
    let code = code::generate(unix_micros());
    let code_hash = code::lookup_key(&ctx.hasher, &code);
    let scope = request.scope.to_string();
    oauth_authorization_codes::insert(
        conn,
        &NewOAuthAuthorizationCode {
            code_hash: &code_hash,
            client_pk: client.pk,
            user_id,
            grant_id,
            redirect_uri: &request.redirect.uri,
            redirect_uri_sent: request.redirect.sent,
            code_challenge: &request.code_challenge,
            scope: &scope,
            issued_at: now,
            expires_at: now + ctx.settings.authorization_code_ttl_seconds,
        },
    )?;
    Ok(code)
}

/// What the authorization endpoint answers a `GET`, decided in one transaction.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// Client or redirect URI is bad: an error page, never a redirect (R4).
    ErrorPage(String),
    /// Client and redirect URI are fine; the user must log in first (R5). Also when
    /// the session names a user who no longer exists.
    LoginRequired,
    /// Anything else wrong: redirect the error to the trusted URI.
    ErrorRedirect {
        target: RedirectTarget,
        error: OAuthError,
    },
    /// Consent was remembered: here is the code.
    Code {
        request: AuthorizeRequest,
        code: String,
    },
    /// The user must be asked.
    AskConsent {
        client: Box<Client>,
        request: AuthorizeRequest,
        user: Box<User>,
    },
}

/// Checks the request in the RFC's order and, when the user already consented to this
/// client and these scopes (and the client does not ask every time), issues the code.
/// `session_user` is the user id the browser session names; client, user and grant
/// are read together.
pub async fn authorize(
    db: &Database,
    ctx: std::sync::Arc<OAuthContext>,
    params: Params,
    session_user: Option<UserId>,
    ip: Option<String>,
    now: i64,
) -> Result<AuthorizeOutcome, OAuthError> {
    db.write(move |tx| {
        let client_id = match authorize_request::client_id(&params) {
            Ok(id) => id,
            Err(message) => return Ok(AuthorizeOutcome::ErrorPage(message)),
        };
        let Some((row, user, grant)) =
            oauth_clients::find_for_authorization(tx.conn, &client_id, session_user)?
        else {
            return Ok(AuthorizeOutcome::ErrorPage(
                "This application is not registered here (unknown client_id). Tell the application's developer.".into(),
            ));
        };
        let client = Client::from(row);
        let target = match authorize_request::redirect_target(&params, &client) {
            Ok(target) => target,
            Err(message) => return Ok(AuthorizeOutcome::ErrorPage(message)),
        };
        let Some(user) = user else {
            return Ok(AuthorizeOutcome::LoginRequired);
        };
        let request = match authorize_request::validate(&params, &client, target.clone()) {
            Ok(request) => request,
            Err(error) => return Ok(AuthorizeOutcome::ErrorRedirect { target, error }),
        };
        let remembered = match grant {
            Some(grant) if !client.always_ask_consent => request
                .scope
                .is_subset(&ScopeSet::from_stored(&grant.scope))
                .then_some(grant.id),
            _ => None,
        };
        let Some(grant_id) = remembered else {
            return Ok(AuthorizeOutcome::AskConsent {
                client: Box::new(client),
                request,
                user: Box::new(user),
            });
        };
        let code = issue_code(tx.conn, &ctx, &client, user.id, grant_id, &request, now)?;
        let actor = Actor::user(user.id, &user.email, ip);
        tx.publish(code_event(&actor, now, &client, &request, true));
        Ok(AuthorizeOutcome::Code { request, code })
    })
    .await
}

/// The user approved: records (or widens) the grant and issues a code.
pub async fn approve(
    db: &Database,
    ctx: std::sync::Arc<OAuthContext>,
    client: Client,
    user_id: UserId,
    request: AuthorizeRequest,
    actor: Actor,
    now: i64,
) -> Result<String, OAuthError> {
    db.write(move |tx| {
        let grant_id = match oauth_grants::find_active(tx.conn, client.pk, user_id)? {
            Some(grant) => {
                let widened = ScopeSet::from_stored(&grant.scope).union(&request.scope);
                oauth_grants::set_scope(tx.conn, grant.id, &widened.to_string(), now)?;
                grant.id
            }
            None => {
                let scope = request.scope.to_string();
                oauth_grants::insert(
                    tx.conn,
                    &NewOAuthGrant {
                        client_pk: client.pk,
                        user_id,
                        scope: &scope,
                        created_at: now,
                        updated_at: now,
                    },
                )?
                .id
            }
        };
        tx.publish(event(
            &actor,
            now,
            OAuthEvent::ConsentGranted {
                client_id: client.client_id.clone(),
                name: client.name.clone(),
                scope: request.scope.to_string(),
            },
        ));
        let code = issue_code(tx.conn, &ctx, &client, user_id, grant_id, &request, now)?;
        tx.publish(code_event(&actor, now, &client, &request, false));
        Ok(code)
    })
    .await
}

/// The user declined: only an audit line.
pub async fn deny(
    db: &Database,
    client: &Client,
    scope: &ScopeSet,
    actor: Actor,
    now: i64,
) -> Result<(), OAuthError> {
    let denied = OAuthEvent::ConsentDenied {
        client_id: client.client_id.clone(),
        name: client.name.clone(),
        scope: scope.to_string(),
    };
    db.write(move |tx| {
        tx.publish(event(&actor, now, denied));
        Ok(())
    })
    .await
}

fn code_event(
    actor: &Actor,
    now: i64,
    client: &Client,
    request: &AuthorizeRequest,
    remembered_consent: bool,
) -> crate::events::DomainEvent {
    event(
        actor,
        now,
        OAuthEvent::CodeIssued {
            client_id: client.client_id.clone(),
            scope: request.scope.to_string(),
            remembered_consent,
        },
    )
}

/// One row of "Authorized applications".
#[derive(Debug, Clone)]
pub struct AuthorizedApp {
    pub grant: OAuthGrant,
    pub client_id: String,
    pub client_name: String,
}

pub async fn authorized_apps(
    db: &Database,
    user_id: UserId,
) -> Result<Vec<AuthorizedApp>, DbError> {
    db.read(move |conn| {
        Ok(oauth_grants::list_active_for_user(conn, user_id)?
            .into_iter()
            .map(|(grant, client_id, client_name)| AuthorizedApp {
                grant,
                client_id,
                client_name,
            })
            .collect())
    })
    .await
}

/// Revokes the user's grant and every token issued under it, at once.
pub async fn revoke_grant(
    db: &Database,
    user_id: UserId,
    grant_id: GrantId,
    actor: Actor,
    now: i64,
) -> Result<bool, OAuthError> {
    db.write(move |tx| {
        let Some(grant) = oauth_grants::find(tx.conn, grant_id)? else {
            return Ok(false);
        };
        if grant.user_id != user_id || grant.revoked_at.is_some() {
            return Ok(false);
        }
        oauth_grants::revoke(tx.conn, grant.id, now)?;
        // The grant's revocation alone stops its tokens (every check reads it); the
        // families are marked too, so each one's record says it ended.
        let families = oauth_token_families::revoke_grant(tx.conn, grant.id, now)?;
        tx.publish(event(
            &actor,
            now,
            OAuthEvent::GrantRevoked {
                grant_id: grant.id,
                families,
            },
        ));
        Ok(true)
    })
    .await
}
