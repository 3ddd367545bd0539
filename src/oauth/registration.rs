//! Client registration input: what the OAuth tab and `bridgekeeper client create`
//! submit, checked into a [`ClientRegistration`] (parse, don't validate).

use url::Url;

use super::client::{
    ClientType, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN,
};
use super::redirect_uri;
use super::scope::ScopeSet;

/// Raw input, as typed.
#[derive(Debug, Clone, Default)]
pub struct ClientForm {
    pub name: String,
    pub client_type: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub cors_origins: Vec<String>,
    pub issue_refresh_tokens: bool,
    pub always_ask_consent: bool,
}

/// Checked input, ready to store.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: ScopeSet,
    pub cors_origins: Vec<String>,
    pub issue_refresh_tokens: bool,
    pub always_ask_consent: bool,
}

fn cleaned(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
    out
}

/// Every problem, each worded for the person who can fix it.
pub fn validate(form: &ClientForm) -> Result<ClientRegistration, Vec<String>> {
    let mut errors = Vec::new();
    let name = form.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        errors.push("name: enter a name of at most 120 printable characters".to_owned());
    }
    let client_type = ClientType::parse(form.client_type.trim());
    if client_type.is_none() {
        errors.push("type: choose public (SPA or native app) or confidential (back end)".into());
    }
    let is_public = client_type == Some(ClientType::Public);

    let mut issue_refresh_tokens = form.issue_refresh_tokens;
    let mut grant_types = Vec::new();
    for grant in cleaned(&form.grant_types) {
        match grant.as_str() {
            GRANT_AUTHORIZATION_CODE | GRANT_CLIENT_CREDENTIALS => grant_types.push(grant),
            GRANT_REFRESH_TOKEN => issue_refresh_tokens = true,
            other => errors.push(format!(
                "grants: {other:?} is not supported (authorization_code, refresh_token, client_credentials; implicit and password are not offered)"
            )),
        }
    }
    if grant_types.is_empty() {
        grant_types.push(GRANT_AUTHORIZATION_CODE.to_owned());
    }
    let has_code = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
    if is_public && grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
        errors.push("grants: client_credentials is only for confidential clients".into());
    }
    if issue_refresh_tokens && !has_code {
        errors.push("grants: refresh tokens come only with authorization_code".into());
    }

    let redirect_uris = cleaned(&form.redirect_uris);
    for uri in &redirect_uris {
        if let Err(why) = redirect_uri::validate_for_registration(uri, is_public) {
            errors.push(format!("redirect URI: {why}"));
        }
    }
    if has_code && redirect_uris.is_empty() {
        errors.push("redirect URI: the authorization_code grant needs at least one".into());
    }

    let mut scopes = ScopeSet::default();
    match ScopeSet::parse(&cleaned(&form.scopes).join(" ")) {
        Ok(set) if !set.is_empty() => scopes = set,
        Ok(_) => errors.push("scopes: choose at least one scope".into()),
        Err(e) => errors.push(format!("scopes: {}", e.description())),
    }

    let cors_origins = cleaned(&form.cors_origins);
    for origin in &cors_origins {
        if let Err(why) = validate_origin(origin) {
            errors.push(format!("CORS origin: {why}"));
        }
    }

    match (errors.is_empty(), client_type) {
        (true, Some(client_type)) => Ok(ClientRegistration {
            name,
            client_type,
            redirect_uris,
            grant_types,
            scopes,
            cors_origins,
            issue_refresh_tokens,
            always_ask_consent: form.always_ask_consent,
        }),
        _ => Err(errors),
    }
}

/// An origin exactly as browsers send it: `https://host[:port]`, no path.
fn validate_origin(raw: &str) -> Result<(), String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw}: not an origin ({e})"))?;
    let serialized = url.origin().ascii_serialization();
    if serialized != raw {
        return Err(format!("{raw}: write the origin alone, like {serialized}"));
    }
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(format!(
            "{raw}: origins must use https (http only for loopback)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ClientForm {
        ClientForm {
            name: "Shop".into(),
            client_type: "public".into(),
            redirect_uris: vec!["https://app.test/cb".into()],
            grant_types: vec![],
            scopes: vec!["customers:read".into()],
            cors_origins: vec!["https://app.test".into()],
            issue_refresh_tokens: true,
            always_ask_consent: false,
        }
    }

    #[test]
    fn a_valid_public_client() {
        let reg = validate(&form()).expect("valid");
        assert_eq!(reg.grant_types, vec!["authorization_code".to_owned()]);
        assert!(reg.issue_refresh_tokens);
    }

    #[test]
    fn public_clients_cannot_use_client_credentials() {
        let mut f = form();
        f.grant_types = vec!["client_credentials".into()];
        assert!(validate(&f).is_err());
        f.client_type = "confidential".into();
        f.issue_refresh_tokens = false;
        assert!(validate(&f).is_ok());
    }

    #[test]
    fn implicit_and_password_are_not_offered() {
        for grant in ["implicit", "password"] {
            let mut f = form();
            f.grant_types = vec![grant.into()];
            assert!(validate(&f).is_err());
        }
    }

    #[test]
    fn origins_must_be_bare() {
        let mut f = form();
        f.cors_origins = vec!["https://app.test/".into()];
        assert!(validate(&f).is_err());
        f.cors_origins = vec!["http://app.test".into()];
        assert!(validate(&f).is_err());
    }
}
