//! Redirect URIs: what may be registered (R2, R3) and how a request's URI is matched
//! against the registered ones (R1: exact string comparison; the only exception is
//! the port of a loopback IP URI, which native apps pick at run time).

use url::Url;

const MAX_LEN: usize = 2000;

/// The parameters the authorization response adds to the redirect URI (RFC 6749
/// §4.1.2 and §4.1.2.1, RFC 9207): a registered URI that already carries one would make
/// the client read ours and its own as one.
const RESPONSE_PARAMETERS: [&str; 5] = ["code", "state", "iss", "error", "error_description"];

/// Why a URI may not be registered, worded for the person registering it.
pub fn validate_for_registration(raw: &str, native_loopback_allowed: bool) -> Result<(), String> {
    if raw.is_empty() {
        return Err("enter a redirect URI".into());
    }
    if raw.len() > MAX_LEN {
        return Err(format!("{raw:.60}…: at most {MAX_LEN} characters"));
    }
    if raw.contains('*') {
        return Err(format!(
            "{raw}: wildcards are not allowed; register each URI in full"
        ));
    }
    if raw.contains('#') {
        return Err(format!(
            "{raw}: a redirect URI may not have a fragment (#…)"
        ));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{raw:?}: spaces and control characters are not allowed"
        ));
    }
    let url = Url::parse(raw).map_err(|e| format!("{raw}: not an absolute URI ({e})"))?;
    let Some(after_scheme) = raw.split_once("://").map(|(_, rest)| rest) else {
        return Err(format!("{raw}: expected https://host/path"));
    };
    if !after_scheme.contains('/') {
        return Err(format!("{raw}: include the full path, e.g. {raw}/callback"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{raw}: user names and passwords are not allowed in a redirect URI"
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_ip(&url) => {
            if !native_loopback_allowed {
                return Err(format!(
                    "{raw}: http loopback redirect URIs are for native (public) clients only"
                ));
            }
        }
        "http" => {
            return Err(format!(
                "{raw}: use https (plain http is only allowed for the loopback addresses http://127.0.0.1 and http://[::1] of native apps)"
            ))
        }
        other => return Err(format!("{raw}: the scheme {other}: is not allowed; use https")),
    }
    if url.port() == Some(0) {
        return Err(format!(
            "{raw}: port 0 is not a port a browser can be sent to"
        ));
    }
    if let Some((name, _)) = url
        .query_pairs()
        .find(|(name, _)| RESPONSE_PARAMETERS.contains(&name.as_ref()))
    {
        return Err(format!(
            "{raw}: the query may not carry {name}, which the authorization response adds"
        ));
    }
    if url.as_str() != raw {
        return Err(format!(
            "{raw}: write it in normalised form ({}) so it can be compared exactly",
            url.as_str()
        ));
    }
    Ok(())
}

fn is_loopback_ip(url: &Url) -> bool {
    matches!(
        url.host(),
        Some(url::Host::Ipv4(ip)) if ip == std::net::Ipv4Addr::LOCALHOST
    ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
}

/// Whether `requested` names one of the `registered` URIs: exactly the same string,
/// or, for an `http` loopback IP URI, the same string once the port is left out.
pub fn matches(registered: &[String], requested: &str) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    let Some(without_port) = loopback_without_port(requested) else {
        return false;
    };
    registered
        .iter()
        .any(|r| loopback_without_port(r).is_some_and(|reg| reg == without_port))
}

/// `http://127.0.0.1:PORT/rest` → `http://127.0.0.1/rest` (likewise for `[::1]`);
/// `None` for anything else. Works on the raw string so no normalisation sneaks in.
fn loopback_without_port(raw: &str) -> Option<String> {
    for host in ["127.0.0.1", "[::1]"] {
        let prefix = format!("http://{host}");
        let Some(rest) = raw.strip_prefix(&prefix) else {
            continue;
        };
        let rest = match rest.strip_prefix(':') {
            Some(with_port) => {
                let digits = with_port.find('/').unwrap_or(with_port.len());
                let port = &with_port[..digits];
                // A port a browser can be sent to: 1 to 65535, digits only.
                if !port.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                port.parse::<u16>().ok().filter(|p| *p != 0)?;
                &with_port[digits..]
            }
            None => rest,
        };
        if !rest.starts_with('/') {
            return None;
        }
        return Some(format!("{prefix}{rest}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_string_matches() {
        let registered = vec!["https://app.test/cb".to_owned()];
        assert!(matches(&registered, "https://app.test/cb"));
        for near in [
            "https://app.test/cb/",
            "https://app.test/cb?x=1",
            "https://app.test/cb/../cb",
            "https://APP.test/cb",
            "https://app.test:443/cb",
            "https://app.test/cb#f",
            "https://app.test/cb.evil",
            "http://app.test/cb",
        ] {
            assert!(!matches(&registered, near), "{near} matched");
        }
    }

    #[test]
    fn loopback_port_may_vary_only_when_registered_for_loopback() {
        let registered = vec!["http://127.0.0.1/cb".to_owned()];
        assert!(matches(&registered, "http://127.0.0.1:51234/cb"));
        assert!(matches(&registered, "http://127.0.0.1/cb"));
        assert!(!matches(&registered, "http://127.0.0.1:51234/cb2"));
        assert!(!matches(&registered, "http://127.0.0.1:/cb"));
        assert!(!matches(&registered, "http://127.0.0.1:5x/cb"));
        for out_of_range in ["0", "00000", "65536", "99999", "+80", "123456"] {
            let requested = format!("http://127.0.0.1:{out_of_range}/cb");
            assert!(!matches(&registered, &requested), "{requested} matched");
        }
        assert!(matches(&registered, "http://127.0.0.1:65535/cb"));
        let https = vec!["https://app.test/cb".to_owned()];
        assert!(!matches(&https, "https://app.test:8443/cb"));
        let v6 = vec!["http://[::1]/cb".to_owned()];
        assert!(matches(&v6, "http://[::1]:8080/cb"));
    }

    #[test]
    fn registration_rejects_wildcards_fragments_missing_paths_and_plain_http() {
        for bad in [
            "https://*.app.test/cb",
            "https://app.test/cb#frag",
            "https://app.test",
            "http://example.com/cb",
            "https://APP.test/cb",
            "https://app.test:443/cb",
            "https://user:pw@app.test/cb",
            "javascript:alert(1)",
            "",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:65536/cb",
            "https://app.test/cb?code=1",
            "https://app.test/cb?x=1&state=2",
            "https://app.test/cb?iss=https://evil.test",
            "https://app.test/cb?error=access_denied",
            "https://app.test/cb?error_description=x",
        ] {
            assert!(
                validate_for_registration(bad, true).is_err(),
                "{bad} accepted"
            );
        }
        assert!(validate_for_registration("https://app.test/cb?tenant=acme", false).is_ok());
        assert!(validate_for_registration("http://127.0.0.1:8080/cb", true).is_ok());
        assert!(validate_for_registration("https://app.test/cb", false).is_ok());
        assert!(validate_for_registration("http://127.0.0.1/cb", true).is_ok());
        assert!(validate_for_registration("http://127.0.0.1/cb", false).is_err());
        assert!(validate_for_registration("http://[::1]/cb", true).is_ok());
    }
}
