//! The token endpoint's use case: authenticate the client, then run one grant, all in
//! one transaction. Protocol errors that must leave a trace (a counted failed secret,
//! the revocations after a replayed code or refresh token) are committed and then
//! reported; every other error rolls back, so bad input writes nothing.

use std::sync::Arc;

use crate::clock::unix_micros;
use crate::crypto::time_ordered_id;
use crate::db::{oauth_authorization_codes, oauth_token_families, Committed};
use crate::events::{Actor, Database, IssuedGrant, OAuthEvent, Tx};

use super::client::{
    Client, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN,
};
use super::client_auth;
use super::code;
use super::error::OAuthError;
use super::event;
use super::issue::{self, Issued, Subject, TokenResponse};
use super::pkce;
use super::refresh_token;
use super::scope::ScopeSet;
use super::token_request::{GrantRequest, PresentedClient};
use super::OAuthContext;

/// `Ok(Refused(e))`: commit, then answer `e`. `Err(e)`: roll back, then answer `e`.
type Outcome = Result<Committed<Issued, OAuthError>, OAuthError>;

/// Authenticates the client and runs the grant in one transaction, then signs the
/// access token.
pub async fn exchange(
    db: &Database,
    ctx: Arc<OAuthContext>,
    presented: PresentedClient,
    grant: GrantRequest,
    ip: Option<String>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let keys_ctx = ctx.clone();
    let grant_type = match &grant {
        GrantRequest::AuthorizationCode { .. } => GRANT_AUTHORIZATION_CODE,
        GrantRequest::RefreshToken { .. } => GRANT_REFRESH_TOKEN,
        GrantRequest::ClientCredentials { .. } => GRANT_CLIENT_CREDENTIALS,
    };
    let result = db
        .write(move |tx| {
            let client =
                match client_auth::authenticate_counting(tx, &ctx, &presented, ip.clone(), now)? {
                    Committed::Done(client) => client,
                    Committed::Refused(error) => return Ok(Committed::Refused(error)),
                };
            let actor = Actor::client(&client.client_id, ip);
            match grant {
                GrantRequest::AuthorizationCode {
                    code,
                    redirect_uri,
                    code_verifier,
                } => authorization_code(
                    tx,
                    &ctx,
                    &client,
                    &actor,
                    &code,
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                    now,
                ),
                GrantRequest::RefreshToken {
                    refresh_token,
                    scope,
                } => refresh(tx, &ctx, &client, &actor, &refresh_token, scope, now),
                GrantRequest::ClientCredentials { scope } => {
                    client_credentials(tx, &ctx, &client, &actor, scope, now)
                }
            }
        })
        .await
        .and_then(Committed::into_result)
        .and_then(|issued| issued.sign(&keys_ctx.keys));
    metrics::counter!(
        "bridgekeeper_oauth_tokens_total",
        "grant_type" => grant_type,
        "outcome" => match &result {
            Ok(_) => "issued",
            Err(error) => error.code(),
        },
    )
    .increment(1);
    result
}

#[expect(
    clippy::too_many_arguments,
    reason = "one use case: the grant's parts as they come from the request, each checked here"
)]
fn authorization_code(
    tx: &mut Tx<'_>,
    ctx: &OAuthContext,
    client: &Client,
    actor: &Actor,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: i64,
) -> Outcome {
    if !client.allows_grant(GRANT_AUTHORIZATION_CODE) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the authorization code grant".into(),
        ));
    }
    if let Some(verifier) = code_verifier {
        pkce::validate_verifier(verifier)?;
    }
    let code_hash = code::lookup_key(&ctx.hasher, code);
    let family_id = time_ordered_id(unix_micros());
    // The claim comes first: exactly one of any number of racing requests wins it (on
    // PostgreSQL the losers wait for the row lock, then find the code used).
    let Some(row) = oauth_authorization_codes::claim(tx.conn, &code_hash, &family_id, now)? else {
        let Some(first_family) = oauth_authorization_codes::family_of(tx.conn, &code_hash)? else {
            return Err(OAuthError::invalid_grant("the code is invalid"));
        };
        // Replay (R21): refuse, and revoke everything the first exchange issued.
        if let Some(first_family) = &first_family {
            issue::revoke_family(tx.conn, first_family, now)?;
        }
        tx.publish(event(
            actor,
            now,
            OAuthEvent::CodeReplayed {
                client_id: client.client_id.clone(),
            },
        ));
        return Ok(Committed::Refused(OAuthError::invalid_grant(
            "the code was already used; tokens issued from it have been revoked",
        )));
    };
    // Anything wrong from here rolls the claim back: the rightful client can still
    // redeem the code.
    if row.client_pk != client.pk {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    match redirect_uri {
        Some(uri) if uri != row.redirect_uri => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ))
        }
        None if row.redirect_uri_sent => {
            return Err(OAuthError::invalid_request(
                "redirect_uri is required: the authorization request carried one",
            ))
        }
        _ => {}
    }
    pkce::verify(&row.code_challenge, code_verifier)?;
    if !row.grant_in_force {
        return Err(OAuthError::invalid_grant(
            "the authorization has been revoked",
        ));
    }
    let refresh_token = issue::start_family(tx.conn, ctx, client, &row, &family_id, now)?;
    let subject = Subject {
        client,
        user_id: Some(row.user_id),
        family_id: Some(&family_id),
    };
    let scope = ScopeSet::from_stored(&row.scope);
    let claims = issue::access_token(ctx, &subject, &scope, now);
    tx.publish(event(
        actor,
        now,
        OAuthEvent::TokenIssued {
            grant: IssuedGrant::AuthorizationCode {
                user_id: row.user_id,
                with_refresh: refresh_token.is_some(),
            },
            scope: scope.to_string(),
        },
    ));
    Ok(Committed::Done(Issued {
        claims,
        refresh_token,
        expires_in: ctx.settings.access_token_ttl_seconds,
    }))
}

fn refresh(
    tx: &mut Tx<'_>,
    ctx: &OAuthContext,
    client: &Client,
    actor: &Actor,
    token: &str,
    requested_scope: Option<ScopeSet>,
    now: i64,
) -> Outcome {
    if !client.allows_grant(GRANT_REFRESH_TOKEN) {
        return Err(OAuthError::UnauthorizedClient(
            "this client is not issued refresh tokens".into(),
        ));
    }
    let found = refresh_token::lookup(tx.conn, &ctx.hasher, token)?
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
    let family = &found.family;
    if family.client_pk != client.pk {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if family.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant(
            "the refresh token has been revoked",
        ));
    }
    if found.is_current() {
        if found.has_expired(now) {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        if found.grant_revoked_at.is_some() {
            return Err(OAuthError::invalid_grant(
                "the authorization has been revoked",
            ));
        }
    }
    // The rotation decides: exactly one of any number of racing refreshes moves the
    // family on (on PostgreSQL the losers wait for the row lock, then find it moved).
    let rotated = found.is_current()
        && oauth_token_families::rotate(
            tx.conn,
            family.id,
            family.generation,
            issue::idle_expiry(ctx, family.absolute_expires_at, now),
            now,
        )?;
    if !rotated {
        // Reuse of a rotated-out token (R26), or the loser of a race for the current
        // one: the whole family goes.
        issue::revoke_family(tx.conn, &family.family_id, now)?;
        metrics::counter!("bridgekeeper_oauth_refresh_reuse_total").increment(1);
        tx.publish(event(
            actor,
            now,
            OAuthEvent::RefreshTokenReused {
                client_id: client.client_id.clone(),
            },
        ));
        return Ok(Committed::Refused(OAuthError::invalid_grant(
            "the refresh token was already used; the session has been revoked",
        )));
    }
    let granted = ScopeSet::from_stored(&family.scope);
    let scope = match requested_scope {
        Some(requested) if !requested.is_subset(&granted) => {
            return Err(OAuthError::InvalidScope(format!(
                "a refresh cannot widen the scope beyond: {granted}"
            )))
        }
        Some(requested) if !requested.is_empty() => requested,
        _ => granted.clone(),
    };
    let subject = Subject {
        client,
        user_id: Some(family.user_id),
        family_id: Some(&family.family_id),
    };
    let claims = issue::access_token(ctx, &subject, &scope, now);
    // The new refresh token keeps the original scope (RFC 6749 §6) and family.
    let refresh_token = family.refresh_salt.as_deref().map(|salt| {
        refresh_token::mint(&ctx.hasher, &family.family_id, family.generation + 1, salt)
    });
    tx.publish(event(
        actor,
        now,
        OAuthEvent::TokenRefreshed {
            user_id: family.user_id,
            scope: scope.to_string(),
        },
    ));
    Ok(Committed::Done(Issued {
        claims,
        refresh_token,
        expires_in: ctx.settings.access_token_ttl_seconds,
    }))
}

fn client_credentials(
    tx: &mut Tx<'_>,
    ctx: &OAuthContext,
    client: &Client,
    actor: &Actor,
    requested_scope: Option<ScopeSet>,
    now: i64,
) -> Outcome {
    if !client.is_confidential() {
        return Err(OAuthError::UnauthorizedClient(
            "client_credentials is only for confidential clients".into(),
        ));
    }
    if !client.allows_grant(GRANT_CLIENT_CREDENTIALS) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the client_credentials grant".into(),
        ));
    }
    let scope = match requested_scope {
        Some(requested) if !requested.is_subset(&client.scopes) => {
            return Err(OAuthError::InvalidScope(format!(
                "this client may request only: {}",
                client.scopes
            )))
        }
        Some(requested) if !requested.is_empty() => requested,
        _ => client.scopes.clone(),
    };
    let subject = Subject {
        client,
        user_id: None,
        family_id: None,
    };
    let claims = issue::access_token(ctx, &subject, &scope, now);
    tx.publish(event(
        actor,
        now,
        OAuthEvent::TokenIssued {
            grant: IssuedGrant::ClientCredentials,
            scope: scope.to_string(),
        },
    ));
    Ok(Committed::Done(Issued {
        claims,
        refresh_token: None,
        expires_in: ctx.settings.access_token_ttl_seconds,
    }))
}
