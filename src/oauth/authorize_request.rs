//! The authorization request (`GET /o/authorize/`), checked in the order the RFCs
//! require: client and redirect URI first (failures there must never redirect),
//! then everything else (failures redirect to the now-trusted URI).

use url::Url;

use super::client::{is_plausible_client_id, Client, GRANT_AUTHORIZATION_CODE};
use super::error::OAuthError;
use super::params::Params;
use super::pkce;
use super::redirect_uri;
use super::scope::ScopeSet;

/// Where the answer goes, once known to be one of the client's registered URIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectTarget {
    pub uri: String,
    /// Whether the request named it (then the token request must repeat it, R22).
    pub sent: bool,
}

/// A fully checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect: RedirectTarget,
    pub scope: ScopeSet,
    pub state: Option<String>,
    pub code_challenge: String,
}

/// Step 1: the `client_id` to look up. A problem here is shown on an error page.
pub fn client_id(params: &Params) -> Result<String, String> {
    match params.get("client_id") {
        Ok(Some(id)) if is_plausible_client_id(id) => Ok(id.to_owned()),
        Ok(Some(_)) => Err(
            "This application is not registered here (unknown client_id). Tell the application's developer."
                .into(),
        ),
        Ok(None) => Err("The request names no application (client_id is missing).".into()),
        Err(_) => Err("The request names more than one application (client_id repeated).".into()),
    }
}

/// Step 2: the redirect URI, checked against the client's registered ones (R1, R4).
pub fn redirect_target(params: &Params, client: &Client) -> Result<RedirectTarget, String> {
    match params.get("redirect_uri") {
        Err(_) => Err("The request carries more than one redirect_uri.".into()),
        Ok(Some(uri)) => {
            if redirect_uri::matches(&client.redirect_uris, uri) {
                Ok(RedirectTarget {
                    uri: uri.to_owned(),
                    sent: true,
                })
            } else {
                Err(format!(
                    "The redirect URI is not registered for the application {:?}.",
                    client.name
                ))
            }
        }
        Ok(None) => match client.redirect_uris.as_slice() {
            [only] => Ok(RedirectTarget {
                uri: only.clone(),
                sent: false,
            }),
            [] => Err(format!(
                "The application {:?} has no redirect URI registered.",
                client.name
            )),
            _ => {
                Err("The request must name its redirect_uri (the application has several).".into())
            }
        },
    }
}

/// The `state` to echo, if the request carried exactly one.
pub fn state(params: &Params) -> Option<String> {
    params.get("state").ok().flatten().map(str::to_owned)
}

/// Step 3: everything else. Errors here are redirected to `redirect` with `state`.
pub fn validate(
    params: &Params,
    client: &Client,
    redirect: RedirectTarget,
) -> Result<AuthorizeRequest, OAuthError> {
    let response_type = params.require("response_type")?;
    if response_type != "code" {
        return Err(OAuthError::UnsupportedResponseType(format!(
            "response_type {response_type:?} is not supported; use code (with PKCE)"
        )));
    }
    if !client.allows_grant(GRANT_AUTHORIZATION_CODE) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the authorization code grant".into(),
        ));
    }
    let state = params.get("state")?.map(str::to_owned);
    let code_challenge = params.get("code_challenge")?.ok_or_else(|| {
        OAuthError::invalid_request("code_challenge is required (PKCE with S256)")
    })?;
    pkce::validate_challenge(code_challenge, params.get("code_challenge_method")?)?;
    let scope = match params.get("scope")? {
        Some(raw) => ScopeSet::parse(raw)?,
        None => client.scopes.clone(),
    };
    if scope.is_empty() {
        return Err(OAuthError::InvalidScope("no scope was requested".into()));
    }
    if !scope.is_subset(&client.scopes) {
        return Err(OAuthError::InvalidScope(format!(
            "this client may request only: {}",
            client.scopes
        )));
    }
    Ok(AuthorizeRequest {
        client_id: client.client_id.clone(),
        redirect,
        scope,
        state,
        code_challenge: code_challenge.to_owned(),
    })
}

/// The redirect URI with `params` appended, plus `state` and `iss` (RFC 9207).
pub fn response_uri(
    target: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> String {
    match Url::parse(target) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in params {
                    query.append_pair(k, v);
                }
                if let Some(state) = state {
                    query.append_pair("state", state);
                }
                query.append_pair("iss", issuer);
            }
            url.to_string()
        }
        // Registered URIs always parse; keep the answer well-formed regardless.
        Err(_) => target.to_owned(),
    }
}

/// An error redirect (RFC 6749 §4.1.2.1).
pub fn error_uri(target: &str, error: &OAuthError, state: Option<&str>, issuer: &str) -> String {
    let description = error.description();
    response_uri(
        target,
        &[("error", error.code()), ("error_description", &description)],
        state,
        issuer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::types::{ClientPk, UserId};
    use crate::oauth::client::ClientType;
    use proptest::prelude::*;

    fn client() -> Client {
        Client {
            pk: ClientPk(1),
            client_id: "abc".into(),
            owner_user_id: UserId(1),
            name: "Shop".into(),
            client_type: ClientType::Public,
            secret_hash: None,
            redirect_uris: vec!["https://app.test/cb".into()],
            grant_types: vec!["authorization_code".into()],
            scopes: ScopeSet::parse("customers:read customers:write").expect("scopes"),
            cors_origins: vec![],
            issue_refresh_tokens: true,
            always_ask_consent: false,
            created_at: 0,
        }
    }

    fn query(extra: &str) -> Params {
        let challenge = pkce::s256_challenge(&"v".repeat(43));
        Params::parse(
            format!(
                "response_type=code&client_id=abc&code_challenge={challenge}&code_challenge_method=S256{extra}"
            )
            .as_bytes(),
        )
        .expect("parses")
    }

    #[test]
    fn a_good_request_defaults_to_the_clients_scopes() {
        let p = query("&state=xyz&foo=bar");
        let target = redirect_target(&p, &client()).expect("single registered URI");
        assert!(!target.sent);
        let req = validate(&p, &client(), target).expect("valid");
        assert_eq!(req.scope.to_string(), "customers:read customers:write");
        assert_eq!(req.state.as_deref(), Some("xyz"));
    }

    #[test]
    fn implicit_and_missing_pkce_are_refused() {
        let c = client();
        let t = || redirect_target(&query(""), &c).expect("target");
        let p = Params::parse(b"response_type=token&client_id=abc").expect("parses");
        assert_eq!(
            validate(&p, &c, t()).expect_err("refused").code(),
            "unsupported_response_type"
        );
        let p = Params::parse(b"response_type=code&client_id=abc").expect("parses");
        assert_eq!(
            validate(&p, &c, t()).expect_err("refused").code(),
            "invalid_request"
        );
        let p = query("&scope=admin");
        assert_eq!(
            validate(&p, &c, t()).expect_err("refused").code(),
            "invalid_scope"
        );
    }

    #[test]
    fn error_uri_carries_state_and_iss() {
        let uri = error_uri(
            "https://app.test/cb",
            &OAuthError::AccessDenied("no".into()),
            Some("a b&c"),
            "https://as.test",
        );
        let url = Url::parse(&uri).expect("url");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert!(pairs.contains(&("error".into(), "access_denied".into())));
        assert!(pairs.contains(&("state".into(), "a b&c".into())));
        assert!(pairs.contains(&("iss".into(), "https://as.test".into())));
    }

    proptest! {
        #[test]
        fn any_query_is_answered_without_panicking(q in "\\PC{0,300}") {
            if let Ok(p) = Params::parse(q.as_bytes()) {
                let _ = client_id(&p);
                if let Ok(target) = redirect_target(&p, &client()) {
                    let _ = validate(&p, &client(), target);
                }
            }
        }

        #[test]
        fn state_round_trips_exactly(state in "\\PC{1,200}") {
            let uri = response_uri("https://app.test/cb", &[("code", "c")], Some(&state), "https://as.test");
            let url = Url::parse(&uri).expect("url");
            let echoed = url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned());
            prop_assert_eq!(echoed, Some(state));
        }
    }
}
