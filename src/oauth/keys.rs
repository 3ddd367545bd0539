//! Access-token signing keys: generated on first start, private parts sealed at rest,
//! rotated by command. Every instance keeps the published keys in memory and reloads
//! them from the database periodically and whenever it meets an unknown `kid`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Serialize;

use crate::config::SigningAlgorithm;
use crate::crypto::{random_token, CryptoError, SecretBox};
use crate::db::oauth_signing_keys::{self, NewOAuthSigningKey, OAuthSigningKey};
use crate::db::{DbConnection, DbError};
use crate::events::{Actor, Database, OAuthEvent};

const SEAL_CONTEXT: &str = "oauth_signing_keys.private_key";

/// How long after retirement a key stays published, beyond the access-token lifetime
/// (instances pick up a rotation within this margin).
pub const RETIREMENT_MARGIN_SECONDS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key: {0}")]
    Key(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<diesel::result::Error> for KeyError {
    fn from(e: diesel::result::Error) -> Self {
        KeyError::Db(e.into())
    }
}

pub fn algorithm_name(alg: SigningAlgorithm) -> &'static str {
    match alg {
        SigningAlgorithm::EdDsa => "EdDSA",
        SigningAlgorithm::Es256 => "ES256",
    }
}

/// Generates a key pair: (PKCS#8 DER private key, raw public key: 32 bytes for
/// Ed25519, the uncompressed point for P-256).
fn generate(alg: SigningAlgorithm) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    let rng = SystemRandom::new();
    let der = match alg {
        SigningAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng),
        SigningAlgorithm::Es256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        }
    }
    .map_err(|e| KeyError::Key(e.to_string()))?;
    let public = Signer::from_pkcs8(algorithm_for(algorithm_name(alg)), der.as_ref())?.public_key();
    Ok((der.as_ref().to_vec(), public))
}

/// The operator's rotation: a new key of `alg` takes over (see [`rotate`]), with its
/// audit line. Returns the new `kid`.
pub async fn rotate_signing_key(
    db: &Database,
    secret_box: SecretBox,
    alg: SigningAlgorithm,
    actor: Actor,
    now: i64,
) -> Result<String, KeyError> {
    db.write(move |tx| {
        let kid = rotate(tx.conn, &secret_box, alg, now)?;
        tx.publish(super::event(
            &actor,
            now,
            OAuthEvent::SigningKeyRotated {
                kid: kid.clone(),
                algorithm: algorithm_name(alg),
            },
        ));
        Ok(kid)
    })
    .await
}

/// Stores a new key of `alg`; returns its `kid`.
pub fn create_key(
    conn: &mut DbConnection,
    secret_box: &SecretBox,
    alg: SigningAlgorithm,
    now: i64,
) -> Result<String, KeyError> {
    let (private_der, public) = generate(alg)?;
    let kid = random_token(12);
    let sealed = secret_box.seal(SEAL_CONTEXT, &private_der)?;
    oauth_signing_keys::insert(
        conn,
        &NewOAuthSigningKey {
            kid: &kid,
            algorithm: algorithm_name(alg),
            private_key_sealed: &sealed,
            public_key: &public,
            created_at: now,
        },
    )?;
    Ok(kid)
}

/// On start: makes sure an active key of the configured algorithm exists. When the
/// algorithm changed, the new key takes over as in [`rotate`] and the old ones retire.
pub fn ensure_key(
    conn: &mut DbConnection,
    secret_box: &SecretBox,
    alg: SigningAlgorithm,
    now: i64,
) -> Result<Option<String>, KeyError> {
    if oauth_signing_keys::any_active_with_algorithm(conn, algorithm_name(alg))? {
        return Ok(None);
    }
    rotate(conn, secret_box, alg, now).map(Some)
}

/// `keys rotate`: a new key signs from now on; the old ones stay published until the
/// tokens they signed have expired.
pub fn rotate(
    conn: &mut DbConnection,
    secret_box: &SecretBox,
    alg: SigningAlgorithm,
    now: i64,
) -> Result<String, KeyError> {
    let kid = create_key(conn, secret_box, alg, now)?;
    oauth_signing_keys::retire_all_except(conn, &kid, now)?;
    Ok(kid)
}

/// The key that signs new access tokens, parsed once when the keys are loaded (a
/// JWT library that re-reads the PKCS#8 document per signature pays for a second
/// scalar multiplication every time). Both algorithms use aws-lc-rs: its Ed25519
/// signature took 11–12 µs here against 20–23 µs for ed25519-dalek and 27–30 µs for
/// ring, and its P-256 is at least as fast as ring's. It reads the PKCS#8 documents
/// that ed25519-dalek and p256 wrote for keys made before.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    signer: Signer,
}

enum Signer {
    Ed25519(Ed25519KeyPair),
    Es256(EcdsaKeyPair),
}

impl Signer {
    fn from_pkcs8(algorithm: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        match algorithm {
            Algorithm::EdDSA => Ed25519KeyPair::from_pkcs8(der).map(Signer::Ed25519),
            _ => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map(Signer::Es256),
        }
        .map_err(|e| KeyError::Key(e.to_string()))
    }

    fn public_key(&self) -> Vec<u8> {
        match self {
            Signer::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
            Signer::Es256(pair) => pair.public_key().as_ref().to_vec(),
        }
    }
}

impl SigningKey {
    fn from_pkcs8(kid: String, algorithm: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        Ok(Self {
            kid,
            algorithm,
            signer: Signer::from_pkcs8(algorithm, der)?,
        })
    }

    /// The JWS signature of `signing_input` (RFC 7515 §5.1; for ES256 the fixed-size
    /// `R || S` form of RFC 7518 §3.4).
    pub fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.signer {
            Signer::Ed25519(pair) => Ok(pair.sign(signing_input).as_ref().to_vec()),
            Signer::Es256(pair) => pair
                .sign(&SystemRandom::new(), signing_input)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| KeyError::Key("ECDSA signing failed".into())),
        }
    }
}

struct VerifyingKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    signing: Option<Arc<SigningKey>>,
    verifying: HashMap<String, Arc<VerifyingKey>>,
    jwks: Arc<Jwks>,
    loaded_at: i64,
}

/// The public signing keys (RFC 7517).
// What the JWKS endpoint serves is this type, which also derives the OpenAPI
// document's schema: the two cannot drift apart.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One public key: Ed25519 (`kty` `OKP`) or P-256 (`kty` `EC`, with `y`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Jwk {
    /// `OKP` or `EC`.
    pub kty: &'static str,
    /// `Ed25519` or `P-256`.
    pub crv: &'static str,
    /// The public key (base64url).
    pub x: String,
    /// P-256 only: the public key's y coordinate (base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub y: Option<String>,
    /// The key id that access tokens name in their header.
    pub kid: String,
    /// `EdDSA` or `ES256`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    #[schema(rename = "use")]
    pub use_: &'static str,
}

/// The in-memory view of the published keys.
pub struct KeyRing {
    secret_box: SecretBox,
    preferred: SigningAlgorithm,
    keys: RwLock<Arc<KeySet>>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl KeyRing {
    pub fn new(secret_box: SecretBox, preferred: SigningAlgorithm) -> Self {
        Self {
            secret_box,
            preferred,
            keys: RwLock::new(Arc::new(KeySet::default())),
        }
    }

    pub fn secret_box(&self) -> &SecretBox {
        &self.secret_box
    }

    fn current(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads from the database the keys still published at `now`.
    pub fn reload(
        &self,
        conn: &mut DbConnection,
        now: i64,
        access_token_ttl: i64,
    ) -> Result<(), KeyError> {
        let rows = oauth_signing_keys::list_published(
            conn,
            now - access_token_ttl - RETIREMENT_MARGIN_SECONDS,
        )?;
        let mut set = KeySet {
            loaded_at: now,
            ..KeySet::default()
        };
        let mut jwks = Vec::new();
        for row in &rows {
            let (algorithm, jwk, decoding) = match public_parts(row) {
                Ok(parts) => parts,
                Err(e) => {
                    tracing::error!(kid = %row.kid, error = %e, "skipping unusable signing key");
                    continue;
                }
            };
            jwks.push(jwk);
            set.verifying.insert(
                row.kid.clone(),
                Arc::new(VerifyingKey {
                    algorithm,
                    key: decoding,
                }),
            );
        }
        // Rows come newest first: the newest active key of the preferred algorithm
        // signs, or failing that the newest active key of any algorithm.
        let preferred = algorithm_name(self.preferred);
        let signer = rows
            .iter()
            .filter(|r| r.retired_at.is_none())
            .find(|r| r.algorithm == preferred)
            .or_else(|| rows.iter().find(|r| r.retired_at.is_none()));
        if let Some(row) = signer {
            let der = self
                .secret_box
                .open(SEAL_CONTEXT, &row.private_key_sealed)
                .map_err(|e| KeyError::Key(e.to_string()))?;
            let algorithm = algorithm_for(&row.algorithm);
            set.signing = Some(Arc::new(SigningKey::from_pkcs8(
                row.kid.clone(),
                algorithm,
                &der,
            )?));
        }
        set.jwks = Arc::new(Jwks { keys: jwks });
        let mut guard = match self.keys.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(set);
        Ok(())
    }

    pub fn signing_key(&self) -> Option<Arc<SigningKey>> {
        self.current().signing.clone()
    }

    /// The algorithm and key for `kid`, if published.
    pub fn verifying_key(&self, kid: &str) -> Option<(Algorithm, DecodingKeyRef)> {
        self.current()
            .verifying
            .get(kid)
            .map(|k| (k.algorithm, DecodingKeyRef(k.clone())))
    }

    pub fn jwks(&self) -> Arc<Jwks> {
        self.current().jwks.clone()
    }

    pub fn loaded_at(&self) -> i64 {
        self.current().loaded_at
    }
}

/// A shared handle to a decoding key.
pub struct DecodingKeyRef(Arc<VerifyingKey>);

impl DecodingKeyRef {
    pub fn key(&self) -> &DecodingKey {
        &self.0.key
    }
}

fn algorithm_for(name: &str) -> Algorithm {
    match name {
        "ES256" => Algorithm::ES256,
        _ => Algorithm::EdDSA,
    }
}

fn public_parts(row: &OAuthSigningKey) -> Result<(Algorithm, Jwk, DecodingKey), String> {
    match row.algorithm.as_str() {
        "EdDSA" => {
            if row.public_key.len() != 32 {
                return Err("Ed25519 public key must be 32 bytes".into());
            }
            let x = b64(&row.public_key);
            let decoding = DecodingKey::from_ed_components(&x).map_err(|e| e.to_string())?;
            let jwk = Jwk {
                kty: "OKP",
                crv: "Ed25519",
                x,
                y: None,
                kid: row.kid.clone(),
                alg: "EdDSA",
                use_: "sig",
            };
            Ok((Algorithm::EdDSA, jwk, decoding))
        }
        "ES256" => {
            if row.public_key.len() != 65 || row.public_key[0] != 4 {
                return Err("P-256 public key must be 65 bytes, uncompressed".into());
            }
            let x = b64(&row.public_key[1..33]);
            let y = b64(&row.public_key[33..65]);
            let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|e| e.to_string())?;
            let jwk = Jwk {
                kty: "EC",
                crv: "P-256",
                x,
                y: Some(y),
                kid: row.kid.clone(),
                alg: "ES256",
                use_: "sig",
            };
            Ok((Algorithm::ES256, jwk, decoding))
        }
        other => Err(format!("unknown algorithm {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `der` signs what an independent JWT library verifies with
    /// `public_key`, as the JWKS would publish it.
    fn assert_signs_verifiably(alg: SigningAlgorithm, der: &[u8], public_key: Vec<u8>) {
        let row = OAuthSigningKey {
            id: 1,
            kid: "k1".into(),
            algorithm: algorithm_name(alg).into(),
            private_key_sealed: Vec::new(),
            public_key,
            created_at: 0,
            retired_at: None,
        };
        let (algorithm, _jwk, decoding) = public_parts(&row).expect("public parts");
        let signing =
            SigningKey::from_pkcs8("k1".into(), algorithm, der).expect("private key parses");
        let message = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0";
        let signature = b64(&signing.sign(message).expect("signed"));
        assert!(
            jsonwebtoken::crypto::verify(&signature, message, &decoding, algorithm)
                .expect("verifiable"),
            "{alg:?}"
        );
        assert!(
            !jsonwebtoken::crypto::verify(&signature, b"another message", &decoding, algorithm)
                .expect("verifiable"),
            "{alg:?}"
        );
    }

    #[test]
    fn signatures_verify_with_an_independent_jwt_library() {
        for alg in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let (der, public_key) = generate(alg).expect("a new key pair");
            assert_signs_verifiably(alg, &der, public_key);
        }
    }

    #[test]
    fn keys_written_by_earlier_versions_still_sign() {
        // PKCS#8 documents as ed25519-dalek 2 and p256 0.13 wrote them, with the
        // public keys stored beside them.
        let unhex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
                .collect()
        };
        let ed25519_der = unhex(
            "3051020101300506032b657004220420cf0b9a066181f95d1046e452272ad04fba8108034b\
             1890a55f3f181ffd0f49a5812100d288eacdbda0ce7307a01f380bd393d4f2432c6a0935f2\
             7f1dd623ea6a145a55",
        );
        let ed25519_public =
            unhex("d288eacdbda0ce7307a01f380bd393d4f2432c6a0935f27f1dd623ea6a145a55");
        assert_signs_verifiably(SigningAlgorithm::EdDsa, &ed25519_der, ed25519_public);
        let p256_der = unhex(
            "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b020101042026\
             4d9bb956998669216a78f57fc6ac4cb9137f4e07e239d3e5158af1ab48cbd2a14403420004\
             367ee8fcfed790c99324cd831ea1e7f0bdb19fed34d85f9c9c1f052ef3a28a253c191fbaec\
             2e225b40d3057c801d0fe2f5739191e5e036f8c294d13ec278a42e",
        );
        let p256_public = unhex(
            "04367ee8fcfed790c99324cd831ea1e7f0bdb19fed34d85f9c9c1f052ef3a28a253c191fba\
             ec2e225b40d3057c801d0fe2f5739191e5e036f8c294d13ec278a42e",
        );
        assert_signs_verifiably(SigningAlgorithm::Es256, &p256_der, p256_public);
    }
}
