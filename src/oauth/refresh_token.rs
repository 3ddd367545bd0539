//! Refresh tokens: `<family>~<generation>~<mac>`, where the MAC is the keyed credential
//! hash over the three and the family's stored salt. Only the salt is stored, so the
//! database alone cannot produce a token (as with a stored hash), yet every token the
//! family ever had can be checked: a rotated-out one is recognised as reuse (R26)
//! rather than as garbage. A presented token is looked up by its family, never by a
//! hash, so rotation writes no index entry at all.

use crate::crypto::{constant_time_eq, CredentialHasher};
use crate::db::oauth_token_families::{self, OAuthTokenFamily};
use crate::db::DbConnection;

/// Separates the fields; it is not in the hex of a family id, in a decimal number or
/// in the hex of a MAC, and is unreserved in URLs and form bodies.
const SEPARATOR: char = '~';

/// A syntactically valid refresh token, not yet checked against its family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedRefreshToken<'a> {
    pub family_id: &'a str,
    pub generation: i64,
    mac: &'a str,
}

impl<'a> PresentedRefreshToken<'a> {
    /// `None` for anything that is not shaped like one of our refresh tokens.
    pub fn parse(token: &'a str) -> Option<Self> {
        let mut fields = token.split(SEPARATOR);
        let (family_id, generation, mac) = (fields.next()?, fields.next()?, fields.next()?);
        let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        if fields.next().is_some()
            || !hex(family_id)
            || !hex(mac)
            || generation.is_empty()
            || generation.len() > 18
            || !generation.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(Self {
            family_id,
            generation: generation.parse().ok()?,
            mac,
        })
    }

    /// Whether the family with this salt issued the token (in constant time).
    pub fn is_authentic(&self, hasher: &CredentialHasher, salt: &str) -> bool {
        let expected = mac(hasher, self.family_id, self.generation, salt);
        constant_time_eq(expected.as_bytes(), self.mac.as_bytes())
    }
}

/// A refresh token that its family really issued, at some generation.
#[derive(Debug, Clone)]
pub struct IssuedRefreshToken {
    pub family: OAuthTokenFamily,
    pub generation: i64,
    /// When the family's grant was revoked (`None` while it is in force).
    pub grant_revoked_at: Option<i64>,
}

impl IssuedRefreshToken {
    /// Whether this is the family's current token, not one rotated out.
    pub fn is_current(&self) -> bool {
        self.generation == self.family.generation
    }

    /// Current, and neither it, its family nor its grant revoked or expired.
    pub fn is_live(&self, now: i64) -> bool {
        self.is_current()
            && self.family.revoked_at.is_none()
            && self.grant_revoked_at.is_none()
            && !self.has_expired(now)
    }

    pub fn has_expired(&self, now: i64) -> bool {
        self.family.absolute_expires_at <= now || self.family.idle_expires_at <= now
    }
}

/// The family that issued `token` and at which generation; `None` for anything no
/// family of ours issued.
pub fn lookup(
    conn: &mut DbConnection,
    hasher: &CredentialHasher,
    token: &str,
) -> diesel::QueryResult<Option<IssuedRefreshToken>> {
    let Some(presented) = PresentedRefreshToken::parse(token) else {
        return Ok(None);
    };
    let Some((family, grant_revoked_at)) =
        oauth_token_families::find_with_grant_state(conn, presented.family_id)?
    else {
        return Ok(None);
    };
    let authentic = family.refresh_salt.as_deref().is_some_and(|salt| {
        presented.generation <= family.generation && presented.is_authentic(hasher, salt)
    });
    Ok(authentic.then_some(IssuedRefreshToken {
        generation: presented.generation,
        family,
        grant_revoked_at,
    }))
}

/// The refresh token of `generation` of the family.
pub fn mint(hasher: &CredentialHasher, family_id: &str, generation: i64, salt: &str) -> String {
    format!(
        "{family_id}{SEPARATOR}{generation}{SEPARATOR}{}",
        mac(hasher, family_id, generation, salt)
    )
}

fn mac(hasher: &CredentialHasher, family_id: &str, generation: i64, salt: &str) -> String {
    // The prefix and NUL separators keep these inputs apart from every other
    // credential the hasher sees (secrets and codes are base64url: no NUL).
    hasher.hash(&format!("refresh-token\0{family_id}\0{generation}\0{salt}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    fn hasher() -> CredentialHasher {
        CredentialHasher::new(&MasterKey::generate())
    }

    #[test]
    fn a_minted_token_parses_back_and_is_authentic() {
        let hasher = hasher();
        let token = mint(&hasher, "0069a1b2c3abcdef", 7, "salt");
        let presented = PresentedRefreshToken::parse(&token).expect("parses");
        assert_eq!(presented.family_id, "0069a1b2c3abcdef");
        assert_eq!(presented.generation, 7);
        assert!(presented.is_authentic(&hasher, "salt"));
    }

    #[test]
    fn a_token_is_bound_to_its_generation_salt_and_key() {
        let hasher = hasher();
        let token = mint(&hasher, "00ab", 3, "salt");
        let other_generation = token.replacen("~3~", "~4~", 1);
        let presented = PresentedRefreshToken::parse(&other_generation).expect("parses");
        assert!(!presented.is_authentic(&hasher, "salt"));
        let presented = PresentedRefreshToken::parse(&token).expect("parses");
        assert!(!presented.is_authentic(&hasher, "another salt"));
        assert!(!presented.is_authentic(&self::hasher(), "salt"));
    }

    #[test]
    fn anything_not_shaped_like_a_refresh_token_is_refused() {
        for garbage in [
            "",
            "~~",
            "ab~1",
            "ab~1~cd~ef",
            "ab~-1~cd",
            "ab~+1~cd",
            "ab~1x~cd",
            "xy~1~cd",
            "ab~1~c d",
            "ab~99999999999999999999~cd",
            "a.b.c",
        ] {
            assert_eq!(PresentedRefreshToken::parse(garbage), None, "{garbage:?}");
        }
    }
}
