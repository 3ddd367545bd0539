//! Cryptographic building blocks, all from well-kept crates: sealing secrets at rest
//! (XChaCha20-Poly1305), keyed hashing of high-entropy credentials (HMAC-SHA-256),
//! key derivation (HKDF-SHA-256), random tokens and constant-time comparison.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("{0}")]
    Key(String),
    #[error("sealed value could not be opened (wrong server key or tampered data)")]
    Open,
    /// XChaCha20-Poly1305 refuses a plaintext longer than 256 GiB.
    #[error("value too long to seal")]
    Seal,
}

/// The server's master key. Every other key is derived from it with a purpose label, so
/// one secret to back up opens everything and no two purposes share a key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// From standard base64 of exactly 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| CryptoError::Key("not valid base64".into()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::Key("must decode to exactly 32 bytes".into()))?;
        Ok(Self(key))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Reads the key file, or creates it (mode 0600) with a fresh key when it is missing.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        match std::fs::read_to_string(path) {
            Ok(contents) => Self::from_base64(&contents).map_err(|e| {
                CryptoError::Key(format!("key file {} is invalid: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_private_file(path, key.to_base64().as_bytes()).map_err(|e| {
                    CryptoError::Key(format!("cannot create key file {}: {e}", path.display()))
                })?;
                tracing::info!(path = %path.display(), "generated a new server key file");
                Ok(key)
            }
            Err(e) => Err(CryptoError::Key(format!(
                "cannot read key file {}: {e}",
                path.display()
            ))),
        }
    }

    /// A 32-byte key for one purpose.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        self.derive_array(purpose)
    }

    /// A 64-byte key for one purpose (cookie keys need 64).
    pub fn derive_64(&self, purpose: &str) -> [u8; 64] {
        self.derive_array(purpose)
    }

    #[expect(
        clippy::expect_used,
        reason = "HKDF refuses only outputs over 255 hash lengths, which the const assertion \
                  excludes when this is compiled"
    )]
    fn derive_array<const N: usize>(&self, purpose: &str) -> [u8; N] {
        const {
            assert!(
                N <= 255 * 32,
                "HKDF-SHA-256 expands to at most 255 * 32 bytes"
            )
        };
        let mut out = [0u8; N];
        hkdf::Hkdf::<Sha256>::new(Some(b"bridgekeeper/v1"), &self.0)
            .expand(purpose.as_bytes(), &mut out)
            .expect("an HKDF-SHA-256 output of at most 255 * 32 bytes");
        out
    }
}

/// Creates a file readable only by its owner.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    crate::files::create_private_parent(path)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Authenticated encryption for secrets at rest. The `context` (e.g. the table and
/// column) is bound as associated data, so a sealed value cannot be moved to another
/// column and still open.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    const NONCE_LEN: usize = 24;

    pub fn new(master: &MasterKey) -> Self {
        let key = master.derive("secret-box");
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Returns nonce || ciphertext. Fails only for a plaintext over 256 GiB.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; Self::NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(Self::NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < Self::NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(Self::NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Open)
    }

    pub fn open_string(&self, context: &str, sealed: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.open(context, sealed)?).map_err(|_| CryptoError::Open)
    }
}

/// HMAC-SHA-256 under a server key: the at-rest form of high-entropy credentials
/// (tokens, codes, client secrets, state values). A leaked table cannot be checked
/// against guesses without the key, and a lookup costs one fast hash, not a
/// password hash.
#[derive(Clone)]
pub struct CredentialHasher {
    /// The key's HMAC state, prepared once rather than on every hash.
    key: hmac::Key,
}

impl CredentialHasher {
    pub fn new(master: &MasterKey) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &master.derive("credential-hash")),
        }
    }

    /// Lowercase hex digest, usable as an indexed lookup key.
    pub fn hash(&self, credential: &str) -> String {
        hex(hmac::sign(&self.key, credential.as_bytes()).as_ref())
    }
}

/// HMAC-SHA-256 under `key` (of any length) of `parts` one after another, lowercase hex.
pub fn hmac_sha256_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut context = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key));
    for part in parts {
        context.update(part);
    }
    hex(context.sign().as_ref())
}

/// Fills `bytes` for a token, code or identifier: from the thread's CSPRNG (rand's
/// ChaCha12, seeded from the OS and reseeded from it every 64 KiB), which costs no
/// system call per token. Keys and nonces come from the OS directly.
fn fill_random(bytes: &mut [u8]) {
    rand::thread_rng().fill_bytes(bytes);
}

/// `n` random bytes, base64url without padding.
pub fn random_token(n_bytes: usize) -> String {
    let mut bytes = vec![0u8; n_bytes];
    fill_random(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex digits of a microsecond Unix time, enough until the year 2112.
pub const TIME_PREFIX_DIGITS: usize = 13;

/// The time prefix of [`time_ordered_id`] and of authorization codes:
/// `unix_micros` (see `clock::unix_micros`) in [`TIME_PREFIX_DIGITS`] hex digits.
pub fn time_prefix(unix_micros: i64) -> String {
    format!(
        "{:0width$x}",
        unix_micros.max(0),
        width = TIME_PREFIX_DIGITS
    )
}

/// A unique identifier that sorts by creation time: [`time_prefix`], then 128 random
/// bits in hex. For identifiers that are indexed but not secret (a token's `jti`, a
/// refresh-token family): a new one lands at the end of its index, next to the
/// previous one, so a commit of many writes changes one index page instead of one
/// page per write. The microseconds matter: with whole seconds, the thousands of ids
/// of one second were spread at random over that second's pages.
pub fn time_ordered_id(unix_micros: i64) -> String {
    let mut random = [0u8; 16];
    fill_random(&mut random);
    format!("{}{}", time_prefix(unix_micros), hex(&random))
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// `sk_test_…1234`: enough to recognise a secret, never enough to use it.
pub fn mask_secret(secret: &str) -> String {
    let prefix_len = secret
        .rfind('_')
        .map(|i| i + 1)
        .filter(|&i| i <= 16)
        .unwrap_or(0);
    let chars: Vec<char> = secret.chars().collect();
    let tail: String = if chars.len() >= prefix_len + 8 {
        chars[chars.len() - 4..].iter().collect()
    } else {
        String::new()
    };
    format!("{}…{}", &secret[..prefix_len], tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2: stored credential hashes and Stripe's signatures depend on
    /// HMAC-SHA-256 being exactly the standard one.
    #[test]
    fn hmac_sha256_matches_rfc_4231_and_hashes_parts_as_one_message() {
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(
            hmac_sha256_hex(b"Jefe", &[b"what do ya want for nothing?"]),
            expected
        );
        assert_eq!(
            hmac_sha256_hex(b"Jefe", &[b"what do ya ", b"want ", b"for nothing?"]),
            expected
        );
    }

    #[test]
    fn credential_hash_is_hmac_sha256_under_the_derived_key() {
        let master = MasterKey::generate();
        assert_eq!(
            CredentialHasher::new(&master).hash("abc"),
            hmac_sha256_hex(&master.derive("credential-hash"), &[b"abc"])
        );
    }

    #[test]
    fn sealed_secret_opens_only_in_its_context() {
        let sb = SecretBox::new(&MasterKey::generate());
        let sealed = sb
            .seal("stripe.secret_key", b"sk_test_123")
            .expect("sealed");
        assert!(!sealed.windows(11).any(|w| w == b"sk_test_123"));
        assert_eq!(
            sb.open("stripe.secret_key", &sealed).expect("opens"),
            b"sk_test_123"
        );
        assert!(sb.open("other.column", &sealed).is_err());
    }

    #[test]
    fn sealed_secret_does_not_open_under_another_key() {
        let sealed = SecretBox::new(&MasterKey::generate())
            .seal("c", b"x")
            .expect("sealed");
        assert!(SecretBox::new(&MasterKey::generate())
            .open("c", &sealed)
            .is_err());
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let master = MasterKey::generate();
        assert_ne!(master.derive("a"), master.derive("b"));
        assert_eq!(master.derive("a"), master.derive("a"));
    }

    #[test]
    fn master_key_round_trips_through_base64() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.to_base64()).expect("valid");
        assert_eq!(key.derive("x"), again.derive("x"));
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/master.key");
        let first = MasterKey::load_or_create(&path).expect("created");
        let second = MasterKey::load_or_create(&path).expect("read back");
        assert_eq!(first.derive("x"), second.derive("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn random_tokens_carry_the_requested_entropy() {
        let token = random_token(32);
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).expect("b64").len(), 32);
        assert_ne!(token, random_token(32));
    }

    #[test]
    fn time_ordered_ids_sort_by_the_microsecond_and_stay_unique() {
        let earlier = time_ordered_id(1_700_000_000_000_000);
        let later = time_ordered_id(1_700_000_000_000_001);
        assert!(earlier < later, "{earlier} < {later}");
        assert_ne!(time_ordered_id(1_700_000_000_000_000), earlier);
        assert_eq!(earlier.len(), TIME_PREFIX_DIGITS + 32);
        assert!(time_ordered_id(crate::clock::unix_micros()) > earlier);
    }

    #[test]
    fn masked_secret_keeps_prefix_and_last_four() {
        assert_eq!(mask_secret("sk_test_abcdefghijklmnop1234"), "sk_test_…1234");
        assert_eq!(mask_secret("whsec_abcdefghijkl9876"), "whsec_…9876");
        assert_eq!(mask_secret("sk_test_ab"), "sk_test_…");
    }

    #[test]
    fn credential_hash_is_keyed() {
        let a = CredentialHasher::new(&MasterKey::generate());
        let b = CredentialHasher::new(&MasterKey::generate());
        assert_eq!(a.hash("t"), a.hash("t"));
        assert_ne!(a.hash("t"), b.hash("t"));
        assert_eq!(a.hash("t").len(), 64);
    }
}
