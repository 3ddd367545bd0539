//! Registering, listing, rotating and deleting clients (the OAuth tab and the CLI).

use crate::crypto::{random_token, CredentialHasher};
use crate::db::auth_failures;
use crate::db::oauth_clients::{self, NewOAuthClient};
use crate::db::DbError;
use crate::events::{Actor, Database, OAuthEvent};

use super::client::{Client, ClientType};
use super::client_auth::client_ip_subject;
use super::cors::CorsOrigins;
use super::event;
use super::registration::ClientRegistration;
use super::CLIENT_IP_THROTTLE_SCOPE;
use crate::db::types::UserId;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("no such client")]
    NotFound,
    #[error("only confidential clients have a secret")]
    NoSecret,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ClientError {
    fn from(e: diesel::result::Error) -> Self {
        ClientError::Db(e.into())
    }
}

/// A new secret: 32 random bytes (256 bits), shown once, stored as a keyed hash.
fn new_secret() -> String {
    random_token(32)
}

/// A client id no one picks: 18 random bytes. User subjects are `user:N` and client
/// subjects `client:ID`, so the two can never be confused (R35). It starts with a letter
/// or digit, so it never reads as an option on a command line.
fn new_client_id() -> String {
    loop {
        let id = random_token(18);
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return id;
        }
    }
}

/// Registers a client. The secret (confidential clients only) is returned once.
pub async fn register(
    db: &Database,
    hasher: &CredentialHasher,
    cors: &CorsOrigins,
    owner_user_id: UserId,
    registration: ClientRegistration,
    actor: Actor,
    now: i64,
) -> Result<(Client, Option<String>), ClientError> {
    let secret = (registration.client_type == ClientType::Confidential).then(new_secret);
    let secret_hash = secret.as_deref().map(|s| hasher.hash(s));
    let client_id = new_client_id();
    let client = db
        .write(move |tx| {
            let redirect_uris = registration.redirect_uris.join(" ");
            let grant_types = registration.grant_types.join(" ");
            let scopes = registration.scopes.to_string();
            let cors_origins = registration.cors_origins.join(" ");
            let row = oauth_clients::insert(
                tx.conn,
                &NewOAuthClient {
                    client_id: &client_id,
                    owner_user_id,
                    name: &registration.name,
                    client_type: registration.client_type,
                    secret_hash: secret_hash.as_deref(),
                    redirect_uris: &redirect_uris,
                    grant_types: &grant_types,
                    scopes: &scopes,
                    cors_origins: &cors_origins,
                    issue_refresh_tokens: registration.issue_refresh_tokens,
                    always_ask_consent: registration.always_ask_consent,
                    created_at: now,
                },
            )?;
            tx.publish(event(
                &actor,
                now,
                OAuthEvent::ClientRegistered {
                    client_id: row.client_id.clone(),
                    name: row.name.clone(),
                    client_type: row.client_type.to_string(),
                    scopes: row.scopes.clone(),
                },
            ));
            Ok::<_, ClientError>(Client::from(row))
        })
        .await?;
    cors.invalidate();
    Ok((client, secret))
}

/// A client of `owner_user_id` (`None`: any owner, for the CLI).
fn owned(
    conn: &mut crate::db::DbConnection,
    owner_user_id: Option<UserId>,
    client_id: &str,
) -> Result<Client, ClientError> {
    let row = oauth_clients::find_by_client_id(conn, client_id)?.ok_or(ClientError::NotFound)?;
    if owner_user_id.is_some_and(|owner| owner != row.owner_user_id) {
        return Err(ClientError::NotFound);
    }
    Ok(Client::from(row))
}

pub async fn find_owned(
    db: &Database,
    owner_user_id: UserId,
    client_id: String,
) -> Result<Client, ClientError> {
    db.read(move |conn| owned(conn, Some(owner_user_id), &client_id))
        .await
}

/// Failed secrets presented for a client within the throttle window, as counted per
/// (client, IP): what its owner sees on the client's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedAuthentications {
    pub count: i64,
    /// How many distinct addresses they came from.
    pub addresses: i64,
    pub window_seconds: i64,
}

/// A client of `owner_user_id`, with its recent failed authentications.
pub async fn find_owned_with_failures(
    db: &Database,
    owner_user_id: UserId,
    client_id: String,
    window_seconds: i64,
    now: i64,
) -> Result<(Client, FailedAuthentications), ClientError> {
    db.read(move |conn| {
        let client = owned(conn, Some(owner_user_id), &client_id)?;
        let (count, addresses) = auth_failures::count_with_prefix_since(
            conn,
            CLIENT_IP_THROTTLE_SCOPE,
            &client_ip_subject(&client.client_id, ""),
            now - window_seconds,
        )?;
        Ok((
            client,
            FailedAuthentications {
                count,
                addresses,
                window_seconds,
            },
        ))
    })
    .await
}

/// Looks a client up by its public id (the authorization endpoint).
pub async fn find(db: &Database, client_id: String) -> Result<Option<Client>, ClientError> {
    db.read(move |conn| Ok(oauth_clients::find_by_client_id(conn, &client_id)?.map(Client::from)))
        .await
}

/// A business's clients, or (`None`) every client.
pub async fn list(
    db: &Database,
    owner_user_id: Option<UserId>,
) -> Result<Vec<Client>, ClientError> {
    db.read(move |conn| {
        let rows = match owner_user_id {
            Some(owner) => oauth_clients::list_by_owner(conn, owner)?,
            None => oauth_clients::list_all(conn)?,
        };
        Ok(rows.into_iter().map(Client::from).collect())
    })
    .await
}

/// Replaces a confidential client's secret; the old one stops working at once.
pub async fn rotate_secret(
    db: &Database,
    hasher: &CredentialHasher,
    owner_user_id: Option<UserId>,
    client_id: String,
    actor: Actor,
    now: i64,
) -> Result<(Client, String), ClientError> {
    let secret = new_secret();
    let secret_hash = hasher.hash(&secret);
    let client = db
        .write(move |tx| {
            let client = owned(tx.conn, owner_user_id, &client_id)?;
            if !client.is_confidential() {
                return Err(ClientError::NoSecret);
            }
            oauth_clients::set_secret_hash(tx.conn, client.pk, &secret_hash)?;
            tx.publish(event(
                &actor,
                now,
                OAuthEvent::ClientSecretRotated {
                    client_id: client.client_id.clone(),
                    name: client.name.clone(),
                },
            ));
            Ok(client)
        })
        .await?;
    Ok((client, secret))
}

/// Deletes a client and, with it, every code, grant and token issued to it.
pub async fn delete(
    db: &Database,
    cors: &CorsOrigins,
    owner_user_id: Option<UserId>,
    client_id: String,
    actor: Actor,
    now: i64,
) -> Result<Client, ClientError> {
    let client = db
        .write(move |tx| {
            let client = owned(tx.conn, owner_user_id, &client_id)?;
            oauth_clients::delete(tx.conn, client.pk)?;
            tx.publish(event(
                &actor,
                now,
                OAuthEvent::ClientDeleted {
                    client_id: client.client_id.clone(),
                    name: client.name.clone(),
                },
            ));
            Ok::<_, ClientError>(client)
        })
        .await?;
    cors.invalidate();
    Ok(client)
}
