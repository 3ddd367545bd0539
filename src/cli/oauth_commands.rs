//! `bridgekeeper client …` and `bridgekeeper keys rotate`: OAuth administration for
//! scripts. Output is JSON on stdout; errors go to stderr with a non-zero exit code.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use crate::accounts;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::crypto::{CredentialHasher, SecretBox};
use crate::db::users;
use crate::error::Chain;
use crate::events::{Actor, Database};
use crate::oauth::client::Client;
use crate::oauth::cors::CorsOrigins;
use crate::oauth::registration::{self, ClientForm};
use crate::oauth::{clients, keys};
use crate::startup;

use super::EXIT_CONFIG;

#[derive(Subcommand)]
pub enum ClientAction {
    /// Register a client and print it as JSON (a confidential client's secret included,
    /// this once only).
    Create {
        /// Email of the business account that owns the client.
        #[arg(long)]
        owner: String,
        #[arg(long)]
        name: String,
        /// `public` (SPA or native app, PKCE, no secret) or `confidential` (back end).
        #[arg(long = "type", value_name = "public|confidential")]
        client_type: String,
        /// An exact redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A scope: customers:read or customers:write (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// authorization_code (default), client_credentials or refresh_token (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// An origin allowed to call the token endpoint from a browser (repeatable).
        #[arg(long = "cors-origin")]
        cors_origins: Vec<String>,
        /// Issue refresh tokens (same as --grant refresh_token).
        #[arg(long)]
        refresh_tokens: bool,
        /// Ask the user for consent every time.
        #[arg(long)]
        always_ask_consent: bool,
    },
    /// List clients as JSON (all, or one business's).
    List {
        #[arg(long)]
        owner: Option<String>,
    },
    /// Delete a client; every grant and token issued to it is revoked.
    Delete {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

#[derive(Subcommand)]
pub enum KeysAction {
    /// Start signing access tokens with a new key; old keys stay in the JWKS until the
    /// tokens they signed have expired. Running servers pick the new key up within a minute.
    Rotate,
}

fn client_json(client: &Client, owner_email: Option<&str>, secret: Option<&str>) -> Value {
    let mut value = json!({
        "client_id": client.client_id,
        "name": client.name,
        "type": client.client_type.as_str(),
        "owner_user_id": client.owner_user_id,
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types,
        "refresh_tokens": client.issue_refresh_tokens,
        "scopes": client.scopes.iter().collect::<Vec<_>>(),
        "cors_origins": client.cors_origins,
        "always_ask_consent": client.always_ask_consent,
        "created_at": crate::clock::rfc3339(client.created_at),
    });
    if let Some(email) = owner_email {
        value["owner"] = json!(email);
    }
    if let Some(secret) = secret {
        value["client_secret"] = json!(secret);
    }
    value
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_CONFIG)
}

async fn open(settings: Settings) -> Result<(Database, Settings), ExitCode> {
    let s = settings.clone();
    match tokio::task::spawn_blocking(move || startup::open_database(&s)).await {
        Ok(Ok(db)) => Ok((db, settings)),
        Ok(Err(e)) => Err(fail(Chain(&e))),
        Err(e) => Err(fail(Chain(&e))),
    }
}

async fn find_owner(db: &Database, email: &str) -> Result<accounts::User, ExitCode> {
    let email = accounts::Email::parse(email).map_err(fail)?;
    let lookup = email.as_str().to_owned();
    match db
        .read(move |conn| Ok::<_, crate::db::DbError>(users::find_by_email(conn, &lookup)?))
        .await
    {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(fail(format!(
            "no account with the email {}",
            email.as_str()
        ))),
        Err(e) => Err(fail(Chain(&e))),
    }
}

pub fn client(settings: Settings, action: ClientAction) -> ExitCode {
    actix_web::rt::System::new().block_on(async move {
        let master_key = match startup::load_master_key(&settings) {
            Ok(key) => key,
            Err(e) => return fail(Chain(&e)),
        };
        let (db, _settings) = match open(settings).await {
            Ok(opened) => opened,
            Err(code) => return code,
        };
        let now = SystemClock.now();
        match action {
            ClientAction::Create {
                owner,
                name,
                client_type,
                redirect_uris,
                scopes,
                grants,
                cors_origins,
                refresh_tokens,
                always_ask_consent,
            } => {
                let owner = match find_owner(&db, &owner).await {
                    Ok(user) => user,
                    Err(code) => return code,
                };
                let form = ClientForm {
                    name,
                    client_type,
                    redirect_uris,
                    grant_types: grants,
                    scopes,
                    cors_origins,
                    issue_refresh_tokens: refresh_tokens,
                    always_ask_consent,
                };
                let registration = match registration::validate(&form) {
                    Ok(r) => r,
                    Err(errors) => return fail(errors.join("\n       ")),
                };
                let hasher = CredentialHasher::new(&master_key);
                match clients::register(
                    &db,
                    &hasher,
                    &unserved_origins(),
                    owner.id,
                    registration,
                    Actor::system("cli"),
                    now,
                )
                .await
                {
                    Ok((client, secret)) => {
                        println!(
                            "{:#}",
                            client_json(&client, Some(&owner.email), secret.as_deref())
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(Chain(&e)),
                }
            }
            ClientAction::List { owner } => {
                let owner_id = match owner {
                    Some(email) => match find_owner(&db, &email).await {
                        Ok(user) => Some(user.id),
                        Err(code) => return code,
                    },
                    None => None,
                };
                match clients::list(&db, owner_id).await {
                    Ok(list) => {
                        let values: Vec<Value> =
                            list.iter().map(|c| client_json(c, None, None)).collect();
                        println!("{:#}", Value::Array(values));
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(Chain(&e)),
                }
            }
            ClientAction::Delete { client_id } => {
                match clients::delete(
                    &db,
                    &unserved_origins(),
                    None,
                    client_id.clone(),
                    Actor::system("cli"),
                    now,
                )
                .await
                {
                    Ok(client) => {
                        println!(
                            "{:#}",
                            json!({ "deleted": client.client_id, "name": client.name })
                        );
                        ExitCode::SUCCESS
                    }
                    Err(clients::ClientError::NotFound) => {
                        fail(format!("no client with the id {client_id}"))
                    }
                    Err(e) => fail(Chain(&e)),
                }
            }
        }
    })
}

/// The command line serves no requests, so its copy of the registered CORS origins is
/// never read; running servers see its client changes within
/// [`crate::oauth::cors::STALE_AFTER_SECONDS`].
fn unserved_origins() -> CorsOrigins {
    CorsOrigins::new()
}

pub fn keys(settings: Settings, action: KeysAction) -> ExitCode {
    let KeysAction::Rotate = action;
    actix_web::rt::System::new().block_on(async move {
        let master_key = match startup::load_master_key(&settings) {
            Ok(key) => key,
            Err(e) => return fail(Chain(&e)),
        };
        let alg = settings.oauth.signing_algorithm;
        let (db, _settings) = match open(settings).await {
            Ok(opened) => opened,
            Err(code) => return code,
        };
        let secret_box = SecretBox::new(&master_key);
        let now = SystemClock.now();
        let rotated =
            keys::rotate_signing_key(&db, secret_box, alg, Actor::system("cli"), now).await;
        match rotated {
            Ok(kid) => {
                println!(
                    "{:#}",
                    json!({ "kid": kid, "algorithm": keys::algorithm_name(alg) })
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(Chain(&e)),
        }
    })
}
