//! Form and query parameters as OAuth reads them: a parameter sent without a value
//! counts as omitted (RFC 6749 §3.1), and a repeated one is an error.

use super::error::OAuthError;

/// Largest request body or query the OAuth endpoints read.
pub const MAX_LEN: usize = 16 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// An `application/x-www-form-urlencoded` body or URL query.
    pub fn parse(encoded: &[u8]) -> Result<Self, OAuthError> {
        if encoded.len() > MAX_LEN {
            return Err(OAuthError::invalid_request("the request is too large"));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(encoded)
            .map_err(|_| OAuthError::invalid_request("the parameters could not be decoded"))?;
        // No OAuth parameter holds a control character (RFC 6749 Appendix A), and a NUL
        // byte cannot even be stored in PostgreSQL text: refused here, for every
        // endpoint, before any of them reaches a query.
        if let Some((name, _)) = pairs
            .iter()
            .find(|(name, value)| has_control(name) || has_control(value))
        {
            let name: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
            return Err(OAuthError::invalid_request(format!(
                "the parameter {name} holds a control character"
            )));
        }
        Ok(Self(pairs))
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `name`; `Ok(None)` when absent or empty; an error when repeated.
    pub fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found = self
            .0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(OAuthError::invalid_request(format!(
                "the parameter {name} was sent more than once"
            )));
        }
        Ok(first)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?
            .ok_or_else(|| OAuthError::invalid_request(format!("the parameter {name} is required")))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && !v.is_empty())
    }
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_values_count_as_omitted_and_repeats_are_errors() {
        let p = Params::parse(b"a=1&b=&c=2&c=3").expect("parses");
        assert_eq!(p.get("a").expect("single"), Some("1"));
        assert_eq!(p.get("b").expect("single"), None);
        assert!(p.get("c").is_err());
        assert!(p.require("missing").is_err());
    }

    #[test]
    fn a_control_character_anywhere_is_refused() {
        for encoded in [
            "client_id=abc%00def",
            "state=%0A",
            "code=a%09b",
            "na%00me=x",
            "redirect_uri=https://app.test/cb%7F",
        ] {
            assert!(Params::parse(encoded.as_bytes()).is_err(), "{encoded}");
        }
        assert!(Params::parse(b"state=a+b%20c&scope=customers%3Aread").is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Params::parse(&bytes).map(|p| p.get("code").map(|c| c.map(str::len)));
        }
    }
}
