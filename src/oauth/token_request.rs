//! The token request (`POST /o/token/`): how the client authenticates and which grant
//! it asks for. Client secrets come by `client_secret_basic` or `client_secret_post`;
//! public clients send `client_id` alone.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::client::is_plausible_client_id;
use super::error::OAuthError;
use super::params::Params;
use super::scope::ScopeSet;

/// What the request presented to identify its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedClient {
    /// `Authorization: Basic` or `client_secret` in the body.
    WithSecret { client_id: String, secret: String },
    /// `client_id` alone (public clients).
    IdOnly { client_id: String },
    /// Nothing at all.
    Anonymous,
}

impl PresentedClient {
    pub fn client_id(&self) -> Option<&str> {
        match self {
            PresentedClient::WithSecret { client_id, .. }
            | PresentedClient::IdOnly { client_id } => Some(client_id),
            PresentedClient::Anonymous => None,
        }
    }
}

/// Decodes `application/x-www-form-urlencoded` escapes (RFC 6749 §2.3.1 applies them
/// to the Basic credentials).
fn form_decode(raw: &str) -> Result<String, OAuthError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        OAuthError::InvalidClient("malformed Basic credentials".into())
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| OAuthError::InvalidClient("malformed Basic credentials".into()))
}

/// Parses an `Authorization: Basic …` value into (client_id, secret).
pub fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    let malformed = || OAuthError::InvalidClient("malformed Basic credentials".into());
    let (scheme, encoded) = header.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::InvalidClient(
            "client authentication must use the Basic scheme".into(),
        ));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id)?;
    if id.is_empty() {
        return Err(malformed());
    }
    Ok((id, form_decode(secret)?))
}

/// Which client the request presents, refusing more than one method (RFC 6749 §2.3),
/// and any `client_id` that cannot name a client (answered like an unknown one, before
/// any query).
pub fn presented_client(
    authorization: Option<&str>,
    form: &Params,
) -> Result<PresentedClient, OAuthError> {
    let presented = presented_client_unchecked(authorization, form)?;
    match presented.client_id() {
        Some(id) if !is_plausible_client_id(id) => Err(OAuthError::InvalidClient(
            "unknown client or wrong secret".into(),
        )),
        _ => Ok(presented),
    }
}

fn presented_client_unchecked(
    authorization: Option<&str>,
    form: &Params,
) -> Result<PresentedClient, OAuthError> {
    let body_id = form.get("client_id")?;
    let body_secret = form.get("client_secret")?;
    if let Some(header) = authorization {
        let (client_id, secret) = parse_basic(header)?;
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not Basic and client_secret together",
            ));
        }
        if body_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the Basic credentials",
            ));
        }
        return Ok(PresentedClient::WithSecret { client_id, secret });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(PresentedClient::WithSecret {
            client_id: id.to_owned(),
            secret: secret.to_owned(),
        }),
        (Some(id), None) => Ok(PresentedClient::IdOnly {
            client_id: id.to_owned(),
        }),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "client_secret was sent without client_id",
        )),
        (None, None) => Ok(PresentedClient::Anonymous),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<ScopeSet>,
    },
    ClientCredentials {
        scope: Option<ScopeSet>,
    },
}

pub fn grant_request(form: &Params) -> Result<GrantRequest, OAuthError> {
    let grant_type = form.require("grant_type")?;
    let scope = || -> Result<Option<ScopeSet>, OAuthError> {
        form.get("scope")?.map(ScopeSet::parse).transpose()
    };
    match grant_type {
        "authorization_code" => Ok(GrantRequest::AuthorizationCode {
            code: form.require("code")?.to_owned(),
            redirect_uri: form.get("redirect_uri")?.map(str::to_owned),
            code_verifier: form.get("code_verifier")?.map(str::to_owned),
        }),
        "refresh_token" => Ok(GrantRequest::RefreshToken {
            refresh_token: form.require("refresh_token")?.to_owned(),
            scope: scope()?,
        }),
        "client_credentials" => Ok(GrantRequest::ClientCredentials { scope: scope()? }),
        other => Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type {other:?} is not supported; use authorization_code, refresh_token or client_credentials"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn a_client_id_that_cannot_name_a_client_is_refused_before_any_lookup() {
        let long = format!("client_id={}", "a".repeat(12 * 1024));
        let basic_with_nul = format!("Basic {}", STANDARD.encode("abc%00:secret"));
        for (authorization, body) in [
            (None, long.as_str()),
            (None, "client_id=%7F"),
            (Some(basic_with_nul.as_str()), ""),
        ] {
            let outcome = Params::parse(body.as_bytes())
                .and_then(|form| presented_client(authorization, &form));
            assert!(outcome.is_err(), "{body:.40} {authorization:?}");
        }
        let form =
            Params::parse(format!("client_id={}", "a".repeat(128)).as_bytes()).expect("form");
        assert!(
            presented_client(None, &form).is_ok(),
            "128 characters may still name one"
        );
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(
            parse_basic(&basic("my%3Aid", "s%2Bx+y")).expect("parses"),
            ("my:id".to_owned(), "s+x y".to_owned())
        );
        assert!(parse_basic("Bearer abc").is_err());
        assert!(parse_basic("Basic !!!").is_err());
        assert!(parse_basic(&format!("Basic {}", STANDARD.encode("nocolon"))).is_err());
    }

    #[test]
    fn two_authentication_methods_are_refused() {
        let form = Params::parse(b"client_id=a&client_secret=b").expect("form");
        assert!(presented_client(Some(&basic("a", "b")), &form).is_err());
        let form = Params::parse(b"client_id=a").expect("form");
        assert_eq!(
            presented_client(None, &form).expect("ok"),
            PresentedClient::IdOnly {
                client_id: "a".into()
            }
        );
    }

    #[test]
    fn password_grant_is_unsupported() {
        let form = Params::parse(b"grant_type=password&username=a&password=b").expect("form");
        assert_eq!(
            grant_request(&form).expect_err("refused").code(),
            "unsupported_grant_type"
        );
    }

    proptest! {
        #[test]
        fn basic_round_trips_any_credentials(id in "[^\\x00]{1,40}", secret in "[^\\x00]{0,60}") {
            let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
            let header = basic(&enc(&id), &enc(&secret));
            prop_assert_eq!(parse_basic(&header).expect("parses"), (id, secret));
        }

        #[test]
        fn any_header_is_answered_without_panicking(h in "\\PC{0,200}") {
            let _ = parse_basic(&h);
        }

        #[test]
        fn any_token_form_is_answered_without_panicking(body in "\\PC{0,300}") {
            if let Ok(form) = Params::parse(body.as_bytes()) {
                let _ = grant_request(&form);
                let _ = presented_client(None, &form);
            }
        }
    }
}
