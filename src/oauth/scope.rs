//! Scopes: a set of known scope names, kept sorted so equal sets print equally.

use std::collections::BTreeSet;
use std::fmt;

use super::error::OAuthError;

pub const CUSTOMERS_READ: &str = "customers:read";
pub const CUSTOMERS_WRITE: &str = "customers:write";

/// Every scope this server knows.
pub const SUPPORTED: &[&str] = &[CUSTOMERS_READ, CUSTOMERS_WRITE];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    /// A space-separated request value (RFC 6749 §3.3). Unknown names are
    /// `invalid_scope`; repeated spaces are not allowed by the grammar, but harmless.
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let mut set = BTreeSet::new();
        for name in raw.split(' ').filter(|s| !s.is_empty()) {
            if !SUPPORTED.contains(&name) {
                return Err(OAuthError::InvalidScope(format!(
                    "unknown scope {name:?}; known scopes: {}",
                    SUPPORTED.join(" ")
                )));
            }
            set.insert(name.to_owned());
        }
        Ok(Self(set))
    }

    /// A value this server stored itself (already checked when it was written).
    pub fn from_stored(raw: &str) -> Self {
        Self(
            raw.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined: Vec<&str> = self.iter().collect();
        f.write_str(&joined.join(" "))
    }
}

/// What a scope lets an application do, for the consent page.
pub fn describe(name: &str) -> &'static str {
    match name {
        CUSTOMERS_READ => "read your customers and their subscriptions",
        CUSTOMERS_WRITE => "add and remove customers and open billing-portal sessions",
        _ => "an unknown permission",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scopes_parse_into_a_sorted_set() {
        let set = ScopeSet::parse("customers:write customers:read customers:read").expect("ok");
        assert_eq!(set.to_string(), "customers:read customers:write");
        assert!(ScopeSet::parse("").expect("empty").is_empty());
    }

    #[test]
    fn unknown_scope_is_invalid_scope() {
        let err = ScopeSet::parse("customers:read admin").expect_err("rejected");
        assert_eq!(err.code(), "invalid_scope");
    }
}
