//! Authorization codes: the second they were issued in 10 hex digits, then 32 random
//! bytes (base64url). A code is stored only under its lookup key: the same 10 digits
//! followed by the keyed hash of the whole code (R33). The prefix orders the unique
//! index by time, so each new code is added at its end instead of on a random page
//! (which would split pages and write a different one for nearly every code); the
//! hash is what a guess would have to match.

use crate::crypto::{random_token, CredentialHasher};

const TIME_DIGITS: usize = 10;

/// A new code issued at `now`.
pub fn generate(now: i64) -> String {
    format!(
        "{:0width$x}{}",
        now.max(0),
        random_token(32),
        width = TIME_DIGITS
    )
}

/// What a presented code is looked up by. Anything presented gets a key; one that was
/// never issued simply finds nothing.
pub fn lookup_key(hasher: &CredentialHasher, code: &str) -> String {
    let prefix = code
        .get(..TIME_DIGITS)
        .filter(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or("");
    format!("{prefix}{}", hasher.hash(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    #[test]
    fn keys_sort_by_issue_time_and_depend_on_the_whole_code() {
        let hasher = CredentialHasher::new(&MasterKey::generate());
        let earlier = generate(1_800_000_000);
        let later = generate(1_800_000_001);
        assert!(lookup_key(&hasher, &earlier) < lookup_key(&hasher, &later));
        let mut tampered = later.clone();
        tampered.pop();
        tampered.push(if later.ends_with('A') { 'B' } else { 'A' });
        assert_ne!(lookup_key(&hasher, &tampered), lookup_key(&hasher, &later));
        assert_eq!(lookup_key(&hasher, &later), lookup_key(&hasher, &later));
    }

    #[test]
    fn any_presented_string_gets_a_key_without_panicking() {
        let hasher = CredentialHasher::new(&MasterKey::generate());
        for presented in ["", "short", "ü€ünicode-ü€ü-ü€ü", "zzzzzzzzzzzz"] {
            assert!(lookup_key(&hasher, presented).len() >= 64);
        }
    }
}
