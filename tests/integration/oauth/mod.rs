//! The OAuth 2 authorization server, end to end over HTTP. One test per line of the
//! security checklist (R1–R37, named after it), the flows, concurrency and two
//! instances on one database.

mod authorize;
mod browser;
mod concurrency;
mod flows;
mod grants;
mod pkce_and_codes;
mod tab_and_cli;
mod token_endpoint;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bridgekeeper::accounts::User;
use bridgekeeper::oauth::client::Client;
use bridgekeeper::oauth::registration::ClientForm;
use bridgekeeper::oauth::{clients, pkce};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{location, TestApp};

pub const SPA_REDIRECT: &str = "https://app.test/cb";
pub const SPA_ORIGIN: &str = "https://app.test";
pub const BOTH_SCOPES: &str = "customers:read customers:write";

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = bridgekeeper::crypto::random_token(32);
        let challenge = pkce::s256_challenge(&verifier);
        Self {
            verifier,
            challenge,
        }
    }
}

/// Registers a client through the same use case the OAuth tab and the CLI call.
pub async fn register(app: &TestApp, owner: &User, form: ClientForm) -> (Client, Option<String>) {
    app.register_client(owner, form).await
}

pub fn spa_form() -> ClientForm {
    ClientForm {
        name: "Acme SPA".into(),
        client_type: "public".into(),
        redirect_uris: vec![SPA_REDIRECT.into()],
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["customers:read".into(), "customers:write".into()],
        cors_origins: vec![SPA_ORIGIN.into()],
        issue_refresh_tokens: true,
        always_ask_consent: false,
    }
}

pub fn backend_form() -> ClientForm {
    ClientForm {
        name: "Acme back end".into(),
        client_type: "confidential".into(),
        redirect_uris: vec!["https://backend.test/cb".into()],
        grant_types: vec!["authorization_code".into(), "client_credentials".into()],
        scopes: vec!["customers:read".into(), "customers:write".into()],
        cors_origins: vec![],
        issue_refresh_tokens: true,
        always_ask_consent: false,
    }
}

/// A logged-in business with a public SPA client.
pub async fn business_with_spa(app: &TestApp) -> (User, Client) {
    let user = app.logged_in_business("owner@acme.test").await;
    let (client, _) = register(app, &user, spa_form()).await;
    (user, client)
}

pub fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The standard authorization request of `client_id` with `pkce`, plus `extra`.
pub fn authorize_query(
    client_id: &str,
    pkce: &Pkce,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), client_id.into()),
        ("redirect_uri".into(), SPA_REDIRECT.into()),
        ("code_challenge".into(), pkce.challenge.clone()),
        ("code_challenge_method".into(), "S256".into()),
        ("state".into(), "st-123".into()),
    ];
    for (k, v) in extra {
        params.retain(|(name, _)| name != k);
        if !v.is_empty() {
            params.push(((*k).into(), (*v).into()));
        }
    }
    params
}

pub fn authorize_path(params: &[(String, String)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    format!("/o/authorize/?{}", query.join("&"))
}

/// GET /o/authorize/ with the app's (cookie-keeping) client.
pub async fn authorize(app: &TestApp, params: &[(String, String)]) -> reqwest::Response {
    app.get(&authorize_path(params)).await
}

/// The consent form's POST (`decision` approve or deny).
pub async fn decide(
    app: &TestApp,
    params: &[(String, String)],
    decision: &str,
) -> reqwest::Response {
    let mut fields: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    fields.push(("decision", decision));
    app.post_form("/o/authorize/", &fields).await
}

/// One query parameter of a redirect.
pub fn query_param(uri: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(uri).expect("absolute redirect");
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Runs authorize (+ consent when asked) and returns the code.
pub async fn code_for(app: &TestApp, params: &[(String, String)]) -> String {
    let response = authorize(app, params).await;
    let redirect = match response.status() {
        StatusCode::OK => {
            let approved = decide(app, params, "approve").await;
            assert_eq!(approved.status(), StatusCode::SEE_OTHER);
            location(&approved)
        }
        StatusCode::FOUND => location(&response),
        other => panic!(
            "authorize answered {other}: {}",
            response.text().await.unwrap_or_default()
        ),
    };
    query_param(&redirect, "code").unwrap_or_else(|| panic!("no code in {redirect}"))
}

pub struct TokenAnswer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TokenAnswer {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
    pub fn access_token(&self) -> String {
        self.body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {}", self.body))
            .to_owned()
    }
    pub fn refresh_token(&self) -> String {
        self.body["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no refresh token: {}", self.body))
            .to_owned()
    }
}

/// POST /o/token/ (or another form endpoint) with optional Basic credentials.
pub async fn post_form_endpoint(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> TokenAnswer {
    let mut request = reqwest::Client::new().post(app.url(path)).form(form);
    if let Some((id, secret)) = basic {
        request = request.header(
            reqwest::header::AUTHORIZATION,
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
            ),
        );
    }
    let response = request.send().await.expect("POST");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    TokenAnswer {
        status,
        headers,
        body,
    }
}

pub async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> TokenAnswer {
    post_form_endpoint(app, "/o/token/", form, basic).await
}

/// Exchanges a code as the SPA does.
pub async fn exchange(app: &TestApp, client_id: &str, code: &str, verifier: &str) -> TokenAnswer {
    token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", SPA_REDIRECT),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ],
        None,
    )
    .await
}

/// POST /o/revoke_token/ as a public client (RFC 7009).
pub async fn revoke(app: &TestApp, client_id: &str, token: &str) -> TokenAnswer {
    post_form_endpoint(
        app,
        "/o/revoke_token/",
        &[("token", token), ("client_id", client_id)],
        None,
    )
    .await
}

pub async fn refresh(app: &TestApp, client_id: &str, refresh_token: &str) -> TokenAnswer {
    token(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
        None,
    )
    .await
}

/// A full SPA flow: tokens for the logged-in business.
pub async fn spa_tokens(app: &TestApp, client: &Client) -> TokenAnswer {
    let pkce = Pkce::new();
    let code = code_for(app, &authorize_query(&client.client_id, &pkce, &[])).await;
    let answer = exchange(app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer
}

/// GET /api/me/ with a bearer token.
pub async fn api_me(app: &TestApp, access_token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url("/api/me/"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("GET /api/me/")
}

pub async fn introspect(app: &TestApp, token: &str, basic: (&str, &str)) -> Value {
    let answer = post_form_endpoint(app, "/o/introspect/", &[("token", token)], Some(basic)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

/// The claims of a JWT, decoded without verification (to look at them).
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("json")
}

pub fn jwt_header(token: &str) -> Value {
    let header = token.split('.').next().expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("json")
}
