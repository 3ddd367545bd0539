//! Authorization codes: the microsecond they were issued (`crypto::time_prefix`), then
//! 32 random bytes (base64url). A code is stored only under its lookup key: the same
//! prefix followed by the keyed hash of the whole code (R33). The prefix orders the
//! unique index by time, so the codes of one commit are added together at its end
//! instead of each on a random page (which would split pages and write a different
//! one for nearly every code); the hash is what a guess would have to match.

use crate::crypto::{random_token, time_prefix, CredentialHasher, TIME_PREFIX_DIGITS};

/// A new code issued at `unix_micros` (see `clock::unix_micros`).
pub fn generate(unix_micros: i64) -> String {
    format!("{}{}", time_prefix(unix_micros), random_token(32))
}

/// What a presented code is looked up by. Anything presented gets a key; one that was
/// never issued simply finds nothing.
pub fn lookup_key(hasher: &CredentialHasher, code: &str) -> String {
    let prefix = code
        .get(..TIME_PREFIX_DIGITS)
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
        let earlier = generate(1_800_000_000_000_000);
        let later = generate(1_800_000_000_000_001);
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
