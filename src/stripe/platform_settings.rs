//! The platform's own Stripe configuration, set by an admin: secret key, publishable
//! key, Connect client id and webhook signing secrets. Secrets are sealed at rest and
//! shown only masked.

use crate::accounts::InvalidInput;
use crate::crypto::{mask_secret, CryptoError, SecretBox};
use crate::db::stripe_settings::{self, NewWebhookSecret, StripePlatformSettingsRow};
use crate::db::DbError;
use crate::events::{Actor, Database, DomainEvent, StripeEvent};

const SECRET_KEY_CONTEXT: &str = "stripe_platform_settings.secret_key";
const WEBHOOK_SECRET_CONTEXT: &str = "stripe_webhook_secrets.secret";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("stored Stripe settings cannot be decrypted with this server's key (was MASTER_KEY changed?)")]
    Undecryptable,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<diesel::result::Error> for SettingsError {
    fn from(e: diesel::result::Error) -> Self {
        SettingsError::Db(e.into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Test,
    Live,
}

impl Mode {
    pub fn is_live(self) -> bool {
        self == Mode::Live
    }
}

/// A validated secret or restricted key (`sk_test_`, `sk_live_`, `rk_test_`, `rk_live_`).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", mask_secret(&self.0))
    }
}

impl SecretKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let key = raw.trim();
        if key_mode(key, &["sk_", "rk_"]).is_none() || has_bad_chars(key) {
            return Err(InvalidInput::new(
                "secret_key",
                "a Stripe secret key starts with sk_test_ or sk_live_ (restricted keys: rk_test_ or rk_live_); copy it from Developers → API keys",
            ));
        }
        Ok(Self(key.to_owned()))
    }

    pub fn mode(&self) -> Mode {
        key_mode(&self.0, &["sk_", "rk_"]).unwrap_or(Mode::Test)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Prefix validation only: Stripe's ids and keys change length over time.
fn key_mode(key: &str, prefixes: &[&str]) -> Option<Mode> {
    prefixes.iter().find_map(|prefix| {
        let rest = key.strip_prefix(prefix)?;
        if rest.len() > 5 && rest.starts_with("test_") {
            Some(Mode::Test)
        } else if rest.len() > 5 && rest.starts_with("live_") {
            Some(Mode::Live)
        } else {
            None
        }
    })
}

fn has_bad_chars(value: &str) -> bool {
    !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn parse_publishable_key(raw: &str) -> Result<(String, Mode), InvalidInput> {
    let key = raw.trim();
    match key_mode(key, &["pk_"]) {
        Some(mode) if !has_bad_chars(key) => Ok((key.to_owned(), mode)),
        _ => Err(InvalidInput::new(
            "publishable_key",
            "a Stripe publishable key starts with pk_test_ or pk_live_",
        )),
    }
}

pub fn parse_connect_client_id(raw: &str) -> Result<String, InvalidInput> {
    let id = raw.trim();
    if id.len() > 3 && id.starts_with("ca_") && !has_bad_chars(id) {
        Ok(id.to_owned())
    } else {
        Err(InvalidInput::new(
            "connect_client_id",
            "the Connect client id starts with ca_; find it under Connect → Settings → OAuth",
        ))
    }
}

pub fn parse_webhook_secret(raw: &str) -> Result<String, InvalidInput> {
    let secret = raw.trim();
    if secret.len() > 6 && secret.starts_with("whsec_") && !has_bad_chars(secret) {
        Ok(secret.to_owned())
    } else {
        Err(InvalidInput::new(
            "webhook_secret",
            "a webhook signing secret starts with whsec_; copy it from the endpoint's page under Developers → Webhooks",
        ))
    }
}

/// What an admin submits. A blank secret key keeps the stored one; a blank webhook
/// secret adds none.
#[derive(Debug, Default, Clone)]
pub struct SettingsForm {
    pub secret_key: String,
    pub publishable_key: String,
    pub connect_client_id: String,
    pub new_webhook_secret: String,
}

/// The settings as a page shows them: secrets masked.
#[derive(Debug, Clone)]
pub struct MaskedSettings {
    pub secret_key_hint: Option<String>,
    pub publishable_key: String,
    pub connect_client_id: String,
    pub livemode: Option<bool>,
    pub updated_at: Option<i64>,
    pub webhook_secrets: Vec<(i64, String)>,
}

/// The settings the Stripe client uses: secrets opened.
#[derive(Clone)]
pub struct PlatformCredentials {
    pub secret_key: SecretKey,
    pub publishable_key: String,
    pub connect_client_id: String,
    pub webhook_secrets: Vec<String>,
}

impl std::fmt::Debug for PlatformCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<String> = self
            .webhook_secrets
            .iter()
            .map(|s| mask_secret(s))
            .collect();
        f.debug_struct("PlatformCredentials")
            .field("secret_key", &self.secret_key)
            .field("publishable_key", &self.publishable_key)
            .field("connect_client_id", &self.connect_client_id)
            .field("webhook_secrets", &secrets)
            .finish()
    }
}

pub async fn masked(db: &Database) -> Result<MaskedSettings, SettingsError> {
    db.read(|conn| {
        let row = stripe_settings::find(conn)?;
        let secrets = stripe_settings::webhook_secrets(conn)?;
        Ok(MaskedSettings {
            secret_key_hint: row.as_ref().map(|r| r.secret_key_hint.clone()),
            publishable_key: row
                .as_ref()
                .map(|r| r.publishable_key.clone())
                .unwrap_or_default(),
            connect_client_id: row
                .as_ref()
                .map(|r| r.connect_client_id.clone())
                .unwrap_or_default(),
            livemode: row.as_ref().map(|r| r.livemode),
            updated_at: row.as_ref().map(|r| r.updated_at),
            webhook_secrets: secrets.into_iter().map(|s| (s.id, s.secret_hint)).collect(),
        })
    })
    .await
}

/// `None` when no admin has configured Stripe yet (the service then runs in sandbox mode).
pub async fn credentials(
    db: &Database,
    secret_box: &SecretBox,
) -> Result<Option<PlatformCredentials>, SettingsError> {
    let secret_box = secret_box.clone();
    db.read(move |conn| {
        let Some(row) = stripe_settings::find(conn)? else {
            return Ok(None);
        };
        let open = |context: &str, sealed: &[u8]| {
            secret_box
                .open_string(context, sealed)
                .map_err(|_| SettingsError::Undecryptable)
        };
        let secret_key = SecretKey(open(SECRET_KEY_CONTEXT, &row.secret_key_sealed)?);
        let webhook_secrets = stripe_settings::webhook_secrets(conn)?
            .iter()
            .map(|s| open(WEBHOOK_SECRET_CONTEXT, &s.secret_sealed))
            .collect::<Result<_, _>>()?;
        Ok(Some(PlatformCredentials {
            secret_key,
            publishable_key: row.publishable_key,
            connect_client_id: row.connect_client_id,
            webhook_secrets,
        }))
    })
    .await
}

/// Validates the whole form first, then writes it in one transaction: a bad field
/// changes nothing.
pub async fn save(
    db: &Database,
    secret_box: &SecretBox,
    now: i64,
    form: SettingsForm,
    actor: Actor,
) -> Result<(), SettingsError> {
    let new_secret_key = match form.secret_key.trim() {
        "" => None,
        raw => Some(SecretKey::parse(raw)?),
    };
    let (publishable_key, publishable_mode) = parse_publishable_key(&form.publishable_key)?;
    let connect_client_id = parse_connect_client_id(&form.connect_client_id)?;
    let new_webhook_secret = match form.new_webhook_secret.trim() {
        "" => None,
        raw => Some(parse_webhook_secret(raw)?),
    };
    let secret_box = secret_box.clone();
    db.write(move |tx| {
        let existing = stripe_settings::find(tx.conn)?;
        let (sealed, hint, secret_mode) = match (&new_secret_key, &existing) {
            (Some(key), _) => (
                secret_box.seal(SECRET_KEY_CONTEXT, key.expose().as_bytes())?,
                mask_secret(key.expose()),
                key.mode(),
            ),
            (None, Some(row)) => (
                row.secret_key_sealed.clone(),
                row.secret_key_hint.clone(),
                if row.livemode { Mode::Live } else { Mode::Test },
            ),
            (None, None) => {
                return Err(InvalidInput::new("secret_key", "enter the platform's secret key").into())
            }
        };
        if secret_mode != publishable_mode {
            return Err(InvalidInput::new(
                "publishable_key",
                "the secret key and the publishable key must both be test keys or both be live keys",
            )
            .into());
        }
        stripe_settings::save(
            tx.conn,
            &StripePlatformSettingsRow {
                id: stripe_settings::SETTINGS_ROW_ID,
                secret_key_sealed: sealed,
                secret_key_hint: hint,
                publishable_key,
                connect_client_id,
                livemode: secret_mode.is_live(),
                updated_at: now,
                updated_by: actor.user_id,
            },
        )?;
        tx.publish(DomainEvent::new(actor.clone(), now, StripeEvent::SettingsSaved {
                livemode: secret_mode.is_live(),
            }));
        if let Some(secret) = new_webhook_secret {
            let hint = mask_secret(&secret);
            stripe_settings::add_webhook_secret(
                tx.conn,
                &NewWebhookSecret {
                    secret_sealed: &secret_box.seal(WEBHOOK_SECRET_CONTEXT, secret.as_bytes())?,
                    secret_hint: &hint,
                    created_at: now,
                },
            )?;
            tx.publish(DomainEvent::new(
                actor,
                now,
                StripeEvent::WebhookSecretAdded { hint },
            ));
        }
        Ok(())
    })
    .await
}

/// Removes one webhook signing secret (after a rotation is complete).
pub async fn remove_webhook_secret(
    db: &Database,
    now: i64,
    id: i64,
    actor: Actor,
) -> Result<bool, SettingsError> {
    db.write(move |tx| {
        let hint = stripe_settings::webhook_secrets(tx.conn)?
            .into_iter()
            .find(|s| s.id == id)
            .map(|s| s.secret_hint);
        let Some(hint) = hint else {
            return Ok(false);
        };
        stripe_settings::delete_webhook_secret(tx.conn, id)?;
        tx.publish(DomainEvent::new(
            actor,
            now,
            StripeEvent::WebhookSecretRemoved { hint },
        ));
        Ok(true)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_validated_by_prefix_and_carry_their_mode() {
        assert_eq!(
            SecretKey::parse("sk_test_51abc").expect("valid").mode(),
            Mode::Test
        );
        assert_eq!(
            SecretKey::parse("rk_live_51abc").expect("valid").mode(),
            Mode::Live
        );
        for bad in [
            "pk_test_abc",
            "sk_abc",
            "sk_test_",
            "whsec_x",
            "sk_test_a b",
        ] {
            assert!(SecretKey::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn debug_output_of_a_secret_key_is_masked() {
        let key = SecretKey::parse("sk_test_51abcdefghijklmnopqrstuvwxyz").expect("valid");
        assert!(!format!("{key:?}").contains("abcdefghijklmnop"));
    }

    #[test]
    fn other_identifiers_are_validated_by_prefix() {
        assert!(parse_publishable_key("pk_live_x1").is_ok());
        assert!(parse_publishable_key("sk_live_x1").is_err());
        assert!(parse_connect_client_id("ca_FkyHCg7X8mlvCUdMDao4mMxagUfhIwXb").is_ok());
        assert!(parse_connect_client_id("acct_1").is_err());
        assert!(parse_webhook_secret("whsec_abc").is_ok());
        assert!(parse_webhook_secret("whsec_").is_err());
    }
}
