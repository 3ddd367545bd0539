//! The emulator's HTTP side: one entry point that records the request, applies any
//! injected fault, routes by method and path, and answers in Stripe's shapes with a
//! `Request-Id` header.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use url::Url;

use crate::model::{new_id, Account, Model, RecordedRequest, Token, CODE_TTL_SECONDS};
use crate::{pages, FaultAction, Shared};
use stripe_wire::form;
use subtle::ConstantTimeEq;

/// What a route answers, before it becomes an HTTP response.
pub(super) struct Reply {
    status: u16,
    body: ReplyBody,
    headers: Vec<(&'static str, String)>,
}

enum ReplyBody {
    Json(Value),
    Html(String),
    Css(&'static str),
    Redirect(String),
    Drop,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
        }
    }

    fn html(status: u16, body: String) -> Self {
        Reply {
            status,
            body: ReplyBody::Html(body),
            headers: Vec::new(),
        }
    }

    fn redirect(status: u16, location: String) -> Self {
        Reply {
            status,
            body: ReplyBody::Redirect(location),
            headers: Vec::new(),
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Stripe's v1 error envelope.
fn api_error(
    status: u16,
    error_type: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: &str,
) -> Reply {
    let mut error = json!({"type": error_type, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    Reply::json(status, json!({ "error": error }))
}

/// The Connect host's flat OAuth error.
fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// `sk_test_********************1234`, as Stripe prints keys in messages.
fn masked_key(key: &str) -> String {
    let prefix_len = key
        .match_indices('_')
        .map(|(i, _)| i + 1)
        .take(2)
        .last()
        .unwrap_or(0);
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < prefix_len + 8 {
        return format!("{}****", key.chars().take(prefix_len).collect::<String>());
    }
    let prefix: String = chars[..prefix_len].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}{}{tail}", "*".repeat(chars.len() - prefix_len - 4))
}

/// Percent-encodes a query value with `%20` for spaces, as Stripe's redirects do.
fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let joined: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", query_value(v)))
        .collect();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{}", joined.join("&"))
}

pub(super) struct Incoming {
    method: String,
    path: String,
    raw_query: String,
    raw_body: String,
    params: Vec<(String, String)>,
    api_key: Option<String>,
    stripe_account: Option<String>,
    stripe_version: Option<String>,
    idempotency_key: Option<String>,
    /// The browser's emulator session (the pages' CSRF binding), from its cookie.
    browser_session: Option<String>,
}

impl Incoming {
    fn parse(req: &HttpRequest, body: &[u8]) -> Self {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let raw_query = req.query_string().to_owned();
        let raw_body = String::from_utf8_lossy(body).into_owned();
        let method = req.method().as_str().to_owned();
        let params = if method == "POST" {
            form::decode(&raw_body)
        } else {
            form::decode(&raw_query)
        };
        let api_key = header("authorization").and_then(|value| {
            if let Some(token) = value.strip_prefix("Bearer ") {
                Some(token.trim().to_owned())
            } else if let Some(basic) = value.strip_prefix("Basic ") {
                let decoded = STANDARD.decode(basic.trim()).ok()?;
                let text = String::from_utf8(decoded).ok()?;
                Some(text.split(':').next().unwrap_or_default().to_owned())
            } else {
                None
            }
        });
        Incoming {
            method,
            path: req.path().to_owned(),
            raw_query,
            raw_body,
            params,
            api_key,
            stripe_account: header("stripe-account"),
            stripe_version: header("stripe-version"),
            idempotency_key: header("idempotency-key"),
            browser_session: header("cookie")
                .and_then(|c| pages::cookie(&c, pages::SESSION_COOKIE).map(str::to_owned)),
        }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `parameter_unknown` for any top-level name not in `allowed`.
    fn check_known(&self, allowed: &[&str]) -> Result<(), Reply> {
        let mut unknown: Vec<&str> = Vec::new();
        for (key, _) in &self.params {
            let name = form::top_level_name(key);
            if !allowed.contains(&name) && !unknown.contains(&name) {
                unknown.push(name);
            }
        }
        match unknown.as_slice() {
            [] => Ok(()),
            [one] => Err(api_error(
                400,
                "invalid_request_error",
                Some("parameter_unknown"),
                Some(one),
                &format!("Received unknown parameter: {one}"),
            )),
            [first, ..] => Err(api_error(
                400,
                "invalid_request_error",
                Some("parameter_unknown"),
                Some(first),
                &format!("Received unknown parameters: {}", unknown.join(", ")),
            )),
        }
    }
}

/// Events a route wants delivered once the model's lock is released.
pub(super) type Outbox = Vec<Value>;

pub(super) async fn entry(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let request_id = new_id("req", 14);
    let incoming = Incoming::parse(&req, &body);
    let fault = shared.take_fault(&incoming.method, &incoming.path);
    let (reply, outbox) = match fault {
        Some(FaultAction::Status {
            status,
            code,
            should_retry,
        }) => {
            let message = match status {
                429 => "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                409 => "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through). Please try again later.",
                _ => "An unknown error occurred",
            };
            let error_type = if status >= 500 {
                "api_error"
            } else {
                "invalid_request_error"
            };
            let mut reply = api_error(status, error_type, code.as_deref(), None, message);
            if let Some(retry) = should_retry {
                reply = reply.header("Stripe-Should-Retry", retry.to_string());
            }
            (reply, Vec::new())
        }
        Some(FaultAction::DropConnection) => (
            Reply {
                status: 200,
                body: ReplyBody::Drop,
                headers: Vec::new(),
            },
            Vec::new(),
        ),
        Some(FaultAction::Delay(duration)) => {
            tokio::time::sleep(duration).await;
            route(&shared, &incoming)
        }
        None => route(&shared, &incoming),
    };
    shared.model(|m| {
        m.requests.push(RecordedRequest {
            method: incoming.method.clone(),
            path: incoming.path.clone(),
            query: incoming.raw_query.clone(),
            body: incoming.raw_body.clone(),
            stripe_account: incoming.stripe_account.clone(),
            stripe_version: incoming.stripe_version.clone(),
            idempotency_key: incoming.idempotency_key.clone(),
            authorized: incoming.api_key.is_some(),
            request_id: request_id.clone(),
            status: reply.status,
        })
    });
    for event in outbox {
        shared.dispatch(event).await;
    }
    into_response(reply, &request_id, &incoming)
}

fn into_response(reply: Reply, request_id: &str, incoming: &Incoming) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    builder.insert_header(("Request-Id", request_id));
    if let Some(key) = &incoming.idempotency_key {
        builder.insert_header(("Idempotency-Key", key.as_str()));
    }
    if let Some(version) = &incoming.stripe_version {
        builder.insert_header(("Stripe-Version", version.as_str()));
    }
    if pages::is_page(&incoming.method, &incoming.path) {
        for (name, value) in pages::SECURITY_HEADERS {
            builder.insert_header((*name, *value));
        }
    }
    for (name, value) in reply.headers {
        builder.insert_header((name, value));
    }
    match reply.body {
        ReplyBody::Json(value) => builder.json(value),
        ReplyBody::Html(html) => builder.content_type("text/html; charset=utf-8").body(html),
        ReplyBody::Css(css) => builder.content_type("text/css; charset=utf-8").body(css),
        ReplyBody::Redirect(location) => builder.insert_header(("Location", location)).finish(),
        ReplyBody::Drop => {
            let failing = futures_util::stream::once(async {
                Err::<web::Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection dropped by fault injection",
                ))
            });
            builder.content_type("application/json").streaming(failing)
        }
    }
}

fn route(shared: &Shared, incoming: &Incoming) -> (Reply, Outbox) {
    let now = shared.clock.now();
    let path = incoming.path.as_str();
    let mut outbox = Vec::new();
    let reply = match (incoming.method.as_str(), path) {
        ("GET", "/oauth/authorize") => authorize_page(shared, incoming),
        ("POST", "/oauth/authorize") => match refused_form(shared, incoming, None) {
            Some(refused) => refused,
            None => authorize_decision(shared, incoming, now, &mut outbox),
        },
        ("POST", "/oauth/token") => shared.model(|m| token(m, incoming, now, &mut outbox)),
        ("POST", "/oauth/deauthorize") => shared.model(|m| deauthorize(m, incoming, now)),
        ("GET", "/dashboard") | ("GET", "/dashboard/") => {
            with_page_session(shared, incoming, |token| dashboard(shared, None, token))
        }
        ("POST", p) if p.starts_with("/dashboard/") => {
            match refused_form(shared, incoming, Some("/dashboard")) {
                Some(refused) => refused,
                None => dashboard_action(shared, incoming, now, &mut outbox),
            }
        }
        ("GET", "/assets/emulator.css") => Reply {
            status: 200,
            body: ReplyBody::Css(pages::STYLESHEET),
            headers: Vec::new(),
        },
        ("GET", p) if p.starts_with("/p/session/") => portal_page(shared, p),
        (_, p) if p.starts_with("/v1/") => shared.model(|m| api(m, incoming, now)),
        (method, p) => api_error(
            404,
            "invalid_request_error",
            None,
            None,
            &format!("Unrecognized request URL ({method}: {p}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."),
        ),
    };
    (reply, outbox)
}

// ---------------------------------------------------------------------------------
// Connect OAuth

#[derive(Template)]
#[template(path = "authorize.html")]
struct AuthorizePage<'a> {
    csrf_token: &'a str,
    client_id: &'a str,
    redirect_uri: &'a str,
    state: &'a str,
    scope: &'a str,
    email: &'a str,
    business_name: &'a str,
    accounts: Vec<(String, String, bool)>,
}

/// Validates an authorize request the way Stripe does: only `access_denied` ever
/// redirects; other problems are shown as JSON on Stripe's own page.
fn validate_authorize(shared: &Shared, incoming: &Incoming) -> Result<String, Reply> {
    let state = incoming.param("state").unwrap_or_default();
    let fail = |error: &str, description: String| {
        Reply::json(
            400,
            json!({"error": error, "error_description": description, "state": state}),
        )
    };
    let response_type = incoming
        .param("response_type")
        .ok_or_else(|| fail("invalid_request", "No response_type provided".into()))?;
    if response_type != "code" {
        return Err(fail(
            "unsupported_response_type",
            format!("Only 'code' response_type is supported, but '{response_type}' was provided"),
        ));
    }
    let client_id = incoming.param("client_id").unwrap_or_default();
    if client_id != shared.connect_client_id {
        return Err(fail(
            "invalid_client",
            format!("No application matches the supplied client identifier: '{client_id}'"),
        ));
    }
    if let Some(scope) = incoming.param("scope") {
        if scope != "read_write" && scope != "read_only" {
            return Err(fail(
                "invalid_scope",
                format!("Invalid scope provided: {scope}."),
            ));
        }
    }
    let registered = shared.redirect_uris();
    let redirect_uri = match incoming.param("redirect_uri") {
        Some(uri) => uri.to_owned(),
        None => registered.first().cloned().ok_or_else(|| {
            fail(
                "invalid_redirect_uri",
                "No redirect_uri provided and none is registered".into(),
            )
        })?,
    };
    let valid_url = Url::parse(&redirect_uri)
        .map(|u| matches!(u.scheme(), "http" | "https"))
        .unwrap_or(false);
    if !valid_url || (!registered.is_empty() && !registered.contains(&redirect_uri)) {
        return Err(fail(
            "invalid_redirect_uri",
            format!("Invalid redirect URI '{redirect_uri}'. Ensure this uri exactly matches one of the uris specified in your application settings"),
        ));
    }
    Ok(redirect_uri)
}

fn authorize_page(shared: &Shared, incoming: &Incoming) -> Reply {
    let redirect_uri = match validate_authorize(shared, incoming) {
        Ok(uri) => uri,
        Err(reply) => return reply,
    };
    let accounts = shared.model(|m| {
        m.accounts
            .values()
            .map(|a| (a.id.clone(), a.business_name.clone(), a.connected))
            .collect()
    });
    with_page_session(shared, incoming, |csrf_token| {
        let page = AuthorizePage {
            csrf_token,
            client_id: &shared.connect_client_id,
            redirect_uri: &redirect_uri,
            state: incoming.param("state").unwrap_or_default(),
            scope: incoming.param("scope").unwrap_or("read_only"),
            email: incoming.param("stripe_user[email]").unwrap_or_default(),
            business_name: incoming
                .param("stripe_user[business_name]")
                .unwrap_or_default(),
            accounts,
        };
        match page.render() {
            Ok(html) => Reply::html(200, html),
            Err(e) => Reply::html(500, format!("template error: {e}")),
        }
    })
}

/// Renders a page for the browser's session (starting one when it has none): `render`
/// gets the token its forms carry.
fn with_page_session(
    shared: &Shared,
    incoming: &Incoming,
    render: impl FnOnce(&str) -> Reply,
) -> Reply {
    let session = shared.pages(|p| p.for_page(incoming.browser_session.as_deref()));
    let reply = render(&session.token);
    match session.set_cookie {
        Some(cookie) => reply.header("Set-Cookie", cookie),
        None => reply,
    }
}

#[derive(Template)]
#[template(path = "refused.html")]
struct RefusedPage<'a> {
    back: Option<&'a str>,
}

/// `None` when the form carries its session's CSRF token; otherwise the 403 page that
/// answers it (nothing is changed).
fn refused_form(shared: &Shared, incoming: &Incoming, back: Option<&str>) -> Option<Reply> {
    let valid = shared.pages(|p| {
        p.verify(
            incoming.browser_session.as_deref(),
            incoming.param(pages::CSRF_FIELD),
        )
    });
    if valid {
        return None;
    }
    tracing::warn!(path = %incoming.path, "sandbox emulator: a form without its CSRF token was refused");
    Some(match (RefusedPage { back }).render() {
        Ok(html) => Reply::html(403, html),
        Err(e) => Reply::html(500, format!("template error: {e}")),
    })
}

fn authorize_decision(
    shared: &Shared,
    incoming: &Incoming,
    now: i64,
    _outbox: &mut Outbox,
) -> Reply {
    let redirect_uri = match validate_authorize(shared, incoming) {
        Ok(uri) => uri,
        Err(reply) => return reply,
    };
    let state = incoming.param("state");
    if incoming.param("decision") != Some("approve") {
        let mut pairs = vec![
            ("error", "access_denied"),
            ("error_description", "The user denied your request"),
        ];
        if let Some(state) = state {
            pairs.push(("state", state));
        }
        return Reply::redirect(302, with_query(&redirect_uri, &pairs));
    }
    let scope = incoming.param("scope").unwrap_or("read_only").to_owned();
    let code = shared.model(|m| {
        let account = match incoming.param("account") {
            Some(id) if m.accounts.contains_key(id) => id.to_owned(),
            _ => {
                let name = incoming
                    .param("business_name")
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or("Sandbox business");
                let email = incoming.param("email").unwrap_or_default();
                m.add_account(Account::new(name, email, true, now))
            }
        };
        m.issue_code(&account, &scope, now)
    });
    let mut pairs = vec![("scope", scope.as_str()), ("code", code.as_str())];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    Reply::redirect(302, with_query(&redirect_uri, &pairs))
}

enum Caller {
    Platform,
    /// An OAuth access token, acting as its account.
    Token(String),
}

/// Who the API key belongs to: the platform, or a (live) OAuth access token.
fn caller(model: &Model, key: Option<&str>) -> Result<Caller, Reply> {
    let Some(key) = key else {
        return Err(api_error(
            401,
            "invalid_request_error",
            None,
            None,
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
        ));
    };
    if bool::from(key.as_bytes().ct_eq(model.platform_secret_key.as_bytes())) {
        return Ok(Caller::Platform);
    }
    match model.access_tokens.get(key) {
        Some(Token {
            revoked: false,
            account,
        }) => Ok(Caller::Token(account.clone())),
        Some(_) => Err(api_error(
            401,
            "invalid_request_error",
            Some("api_key_expired"),
            None,
            &format!("Expired API Key provided: {}", masked_key(key)),
        )),
        None => Err(api_error(
            401,
            "invalid_request_error",
            None,
            None,
            &format!("Invalid API Key provided: {}", masked_key(key)),
        )),
    }
}

/// The Connect host authenticates the platform only; errors in the flat shape.
fn platform_only(model: &Model, incoming: &Incoming) -> Result<(), Reply> {
    let key = incoming
        .api_key
        .as_deref()
        .or_else(|| incoming.param("client_secret"));
    match key {
        None => Err(oauth_error(
            401,
            "invalid_client",
            "No authentication was provided. Send your secret API key using the Authorization header, or as a client_secret POST parameter.",
        )),
        Some(key)
            if bool::from(key.as_bytes().ct_eq(model.platform_secret_key.as_bytes())) =>
        {
            Ok(())
        }
        Some(key) => Err(oauth_error(
            401,
            "invalid_client",
            &format!("Invalid API Key provided: {}", masked_key(key)),
        )),
    }
}

fn oauth_unknown(incoming: &Incoming, allowed: &[&str]) -> Result<(), Reply> {
    incoming.check_known(allowed).map_err(|_| {
        let unknown: Vec<&str> = incoming
            .params
            .iter()
            .map(|(k, _)| form::top_level_name(k))
            .filter(|k| !allowed.contains(k))
            .collect();
        oauth_error(
            400,
            "invalid_request",
            &format!("Received unknown parameter: {}", unknown.join(", ")),
        )
    })
}

fn application_object(client_id: &str) -> Value {
    json!({"id": client_id, "object": "application", "name": "bridgekeeper (sandbox platform)"})
}

fn token(model: &mut Model, incoming: &Incoming, now: i64, outbox: &mut Outbox) -> Reply {
    if let Err(reply) = platform_only(model, incoming) {
        return reply;
    }
    if let Err(reply) = oauth_unknown(
        incoming,
        &[
            "grant_type",
            "code",
            "refresh_token",
            "scope",
            "assert_capabilities",
            "client_secret",
        ],
    ) {
        return reply;
    }
    match incoming.param("grant_type") {
        None => oauth_error(400, "invalid_request", "No grant type specified"),
        Some("authorization_code") => {
            let Some(code) = incoming.param("code") else {
                return oauth_error(400, "invalid_request", "No authorization code provided");
            };
            let Some(record) = model.codes.get(code).cloned() else {
                return oauth_error(
                    400,
                    "invalid_grant",
                    &format!("Authorization code does not exist: {code}"),
                );
            };
            if record.used {
                // A replay: Stripe revokes the connection and every token from this code.
                if model.revoke(&record.account, now) {
                    outbox.push(event(
                        model,
                        "account.application.deauthorized",
                        Some(&record.account),
                        application_object(&model.connect_client_id),
                        now,
                    ));
                }
                return oauth_error(
                    400,
                    "invalid_grant",
                    "This authorization code has already been used. All tokens issued with this code have been revoked.",
                );
            }
            if now - record.created_at >= CODE_TTL_SECONDS {
                return oauth_error(
                    400,
                    "invalid_grant",
                    &format!("Authorization code expired: {code}"),
                );
            }
            let access = new_id("sk_test", 99);
            let refresh = new_id("rt", 48);
            for (map, token) in [
                (&mut model.access_tokens, &access),
                (&mut model.refresh_tokens, &refresh),
            ] {
                map.insert(
                    token.clone(),
                    Token {
                        account: record.account.clone(),
                        revoked: false,
                    },
                );
            }
            if let Some(stored) = model.codes.get_mut(code) {
                stored.used = true;
                stored.issued = vec![access.clone(), refresh.clone()];
            }
            let Some(account) = model.accounts.get_mut(&record.account) else {
                return oauth_error(
                    400,
                    "invalid_grant",
                    &format!("Authorization code does not exist: {code}"),
                );
            };
            account.connected = true;
            account.connected_at = Some(now);
            account.revoked_at = None;
            let account_id = account.id.clone();
            outbox.push(event(
                model,
                "account.application.authorized",
                Some(&account_id),
                application_object(&model.connect_client_id),
                now,
            ));
            oauth_token_reply(&access, &refresh, &account_id, &record.scope)
        }
        Some("refresh_token") => {
            let Some(refresh) = incoming.param("refresh_token") else {
                return oauth_error(400, "invalid_request", "No refresh token provided");
            };
            let account = match model.refresh_tokens.get(refresh) {
                Some(Token {
                    revoked: false,
                    account,
                }) => account.clone(),
                _ => {
                    return oauth_error(
                        400,
                        "invalid_grant",
                        &format!("Refresh token does not exist: {}", masked_key(refresh)),
                    )
                }
            };
            for token in model.access_tokens.values_mut() {
                if token.account == account {
                    token.revoked = true;
                }
            }
            let access = new_id("sk_test", 99);
            model.access_tokens.insert(
                access.clone(),
                Token {
                    account: account.clone(),
                    revoked: false,
                },
            );
            let scope = incoming.param("scope").unwrap_or("read_write");
            oauth_token_reply(&access, refresh, &account, scope)
        }
        Some(_) => oauth_error(400, "unsupported_grant_type", ""),
    }
}

/// Stripe's answer to a code exchange or a refresh at `POST /oauth/token`.
fn oauth_token_reply(access: &str, refresh: &str, account: &str, scope: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "stripe_publishable_key": new_id("pk_test", 99),
            "stripe_user_id": account,
            "scope": scope,
            "livemode": false
        }),
    )
}

fn deauthorize(model: &mut Model, incoming: &Incoming, now: i64) -> Reply {
    if let Err(reply) = platform_only(model, incoming) {
        return reply;
    }
    if let Err(reply) = oauth_unknown(incoming, &["client_id", "stripe_user_id", "client_secret"]) {
        return reply;
    }
    let Some(client_id) = incoming.param("client_id") else {
        return oauth_error(400, "invalid_request", "No client_id provided");
    };
    let Some(account) = incoming.param("stripe_user_id") else {
        return oauth_error(400, "invalid_request", "No stripe_user_id provided");
    };
    let connected = model.accounts.get(account).is_some_and(|a| a.connected);
    if client_id != model.connect_client_id || !connected {
        return oauth_error(
            401,
            "invalid_client",
            &format!("This application is not connected to stripe account {account}, or that account does not exist."),
        );
    }
    model.revoke(account, now);
    Reply::json(200, json!({ "stripe_user_id": account }))
}

// ---------------------------------------------------------------------------------
// REST API

fn api(model: &mut Model, incoming: &Incoming, now: i64) -> Reply {
    let caller = match caller(model, incoming.api_key.as_deref()) {
        Ok(caller) => caller,
        Err(reply) => return reply,
    };
    let key = incoming.api_key.clone().unwrap_or_default();
    let account_id = match (&caller, incoming.stripe_account.as_deref()) {
        (Caller::Platform, None) => None,
        (Caller::Platform, Some(acct)) => {
            if model.accounts.get(acct).is_some_and(|a| a.connected) {
                Some(acct.to_owned())
            } else {
                return api_error(
                    403,
                    "invalid_request_error",
                    None,
                    None,
                    &format!("The provided key '{}' does not have access to account '{acct}' (or that account does not exist). Application access may have been revoked.", masked_key(&key)),
                );
            }
        }
        (Caller::Token(own), requested) => {
            if requested.is_some_and(|r| r != own) {
                return api_error(
                    403,
                    "invalid_request_error",
                    None,
                    None,
                    &format!("The provided key '{}' does not have access to account '{}' (or that account does not exist). Application access may have been revoked.", masked_key(&key), requested.unwrap_or_default()),
                );
            }
            Some(own.clone())
        }
    };
    let version = incoming.stripe_version.clone().unwrap_or_else(|| {
        account_id
            .as_deref()
            .and_then(|a| model.accounts.get(a))
            .map(|a| a.default_version.clone())
            .unwrap_or_else(|| crate::model::DEFAULT_ACCOUNT_VERSION.into())
    });
    let platform = Account::empty();
    let path = incoming.path.as_str();
    let route = match (incoming.method.as_str(), path) {
        ("GET", "/v1/subscriptions") => ApiRoute::ListSubscriptions,
        ("GET", p) if p.starts_with("/v1/customers/") && p.len() > "/v1/customers/".len() => {
            ApiRoute::RetrieveCustomer(p["/v1/customers/".len()..].to_owned())
        }
        ("POST", "/v1/billing_portal/sessions") => ApiRoute::PortalSession,
        (method, p) => {
            return api_error(
                404,
                "invalid_request_error",
                None,
                None,
                &format!("Unrecognized request URL ({method}: {p}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."),
            )
        }
    };
    let allowed: &[&str] = match &route {
        ApiRoute::ListSubscriptions => &[
            "automatic_tax",
            "collection_method",
            "created",
            "current_period_end",
            "current_period_start",
            "customer",
            "ending_before",
            "expand",
            "limit",
            "price",
            "plan",
            "starting_after",
            "status",
            "test_clock",
        ],
        ApiRoute::RetrieveCustomer(_) => &["expand"],
        ApiRoute::PortalSession => &[
            "configuration",
            "customer",
            "expand",
            "flow_data",
            "locale",
            "on_behalf_of",
            "return_url",
            "after_expiration",
        ],
    };
    if let Err(reply) = incoming.check_known(allowed) {
        return reply;
    }
    // Idempotency: a POST with a key replays its first answer, or refuses other params.
    let idempotency = match (&incoming.idempotency_key, incoming.method.as_str()) {
        (Some(key), "POST") => {
            let scope = account_id.clone().unwrap_or_default();
            let mut sorted = incoming.params.clone();
            sorted.sort();
            let fingerprint = format!("{} {}", path, form::encode(&sorted));
            model
                .idempotency
                .retain(|_, r| now - r.created_at < crate::model::IDEMPOTENCY_TTL_SECONDS);
            match model.idempotency.get(&(scope.clone(), key.clone())) {
                Some(record) if record.fingerprint == fingerprint => {
                    if let Some((status, body)) = &record.response {
                        return Reply::json(*status, body.clone())
                            .header("Idempotent-Replayed", "true");
                    }
                    None
                }
                Some(_) => {
                    return api_error(
                        400,
                        "idempotency_error",
                        None,
                        None,
                        &format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."),
                    )
                }
                None => Some((scope, key.clone(), fingerprint)),
            }
        }
        _ => None,
    };
    let base_url = model.base_url.clone();
    let account = account_id
        .as_deref()
        .and_then(|a| model.accounts.get(a))
        .unwrap_or(&platform);
    let reply = match route {
        ApiRoute::RetrieveCustomer(id) => retrieve_customer(account, &id),
        ApiRoute::ListSubscriptions => list_subscriptions(account, incoming, &version),
        ApiRoute::PortalSession => {
            let (reply, session) = portal_session(account, incoming, now, &base_url);
            if let Some((token, customer, return_url)) = session {
                model
                    .portal_sessions
                    .insert(token, (account.id.clone(), customer, return_url));
            }
            reply
        }
    };
    if let Some((scope, key, fingerprint)) = idempotency {
        if let ReplyBody::Json(body) = &reply.body {
            model.idempotency.insert(
                (scope, key),
                crate::model::IdempotencyRecord {
                    fingerprint,
                    created_at: now,
                    response: Some((reply.status, body.clone())),
                },
            );
        }
    }
    reply
}

enum ApiRoute {
    ListSubscriptions,
    RetrieveCustomer(String),
    PortalSession,
}

fn no_such(kind: &str, id: &str, status: u16, param: &str) -> Reply {
    api_error(
        status,
        "invalid_request_error",
        Some("resource_missing"),
        Some(param),
        &format!("No such {kind}: '{id}'"),
    )
}

fn retrieve_customer(account: &Account, id: &str) -> Reply {
    match account.customer(id) {
        Some(customer) => Reply::json(200, account.customer_json(customer)),
        None => no_such("customer", id, 404, "id"),
    }
}

const STATUSES: &[&str] = &[
    "active",
    "past_due",
    "unpaid",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "trialing",
    "paused",
    "ended",
    "all",
];

fn list_subscriptions(account: &Account, incoming: &Incoming, version: &str) -> Reply {
    let invalid = |param: &str, message: String| {
        api_error(400, "invalid_request_error", None, Some(param), &message)
    };
    let status = incoming.param("status");
    if let Some(status) = status {
        if !STATUSES.contains(&status) {
            return invalid(
                "status",
                format!("Invalid status: must be one of {}", STATUSES.join(", ")),
            );
        }
    }
    let limit =
        match incoming.param("limit") {
            None => 10,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => n,
                Ok(_) => return invalid(
                    "limit",
                    "This value must be greater than or equal to 1 and less than or equal to 100."
                        .into(),
                ),
                Err(_) => return invalid("limit", format!("Invalid integer: {raw}")),
            },
        };
    let starting_after = incoming.param("starting_after");
    let ending_before = incoming.param("ending_before");
    if starting_after.is_some() && ending_before.is_some() {
        return invalid(
            "starting_after",
            "You may only specify one of these parameters: ending_before, starting_after.".into(),
        );
    }
    let mut expand_product = false;
    let mut expand_customer = false;
    for path in incoming.all("expand[]") {
        if path.split('.').filter(|s| *s != "data").count() > 4 {
            return invalid(
                "expand",
                format!("You cannot expand more than 4 levels of a property. Property: {path}"),
            );
        }
        match path {
            "data.items.data.price.product" => expand_product = true,
            "data.customer" => expand_customer = true,
            "data.items.data.price" | "data.latest_invoice" | "data.default_payment_method" => {}
            other => {
                return invalid(
                    "expand",
                    format!(
                        "This property cannot be expanded ({}).",
                        other.trim_start_matches("data.")
                    ),
                )
            }
        }
    }
    let customer = incoming.param("customer");
    let price = incoming.param("price").or_else(|| incoming.param("plan"));
    let mut matching: Vec<&crate::model::Subscription> = account
        .subscriptions
        .iter()
        .filter(|s| customer.is_none_or(|c| s.customer == c))
        .filter(|s| price.is_none_or(|p| s.items.iter().any(|i| i.price == p)))
        .filter(|s| match status {
            None => s.status != "canceled" && s.status != "incomplete_expired",
            Some("all") => true,
            Some("ended") => s.status == "canceled" || s.status == "incomplete_expired",
            Some(wanted) => s.status == wanted,
        })
        .collect();
    matching.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    let (page, has_more) = if let Some(cursor) = starting_after {
        let Some(index) = account.subscriptions.iter().position(|s| s.id == cursor) else {
            return no_such("subscription", cursor, 400, "starting_after");
        };
        let cursor_created = account.subscriptions[index].created;
        let after: Vec<_> = matching
            .into_iter()
            .filter(|s| (s.created, &s.id) < (cursor_created, &cursor.to_owned()))
            .collect();
        let has_more = after.len() > limit;
        (after.into_iter().take(limit).collect::<Vec<_>>(), has_more)
    } else if let Some(cursor) = ending_before {
        let Some(index) = account.subscriptions.iter().position(|s| s.id == cursor) else {
            return no_such("subscription", cursor, 400, "ending_before");
        };
        let cursor_created = account.subscriptions[index].created;
        let before: Vec<_> = matching
            .into_iter()
            .filter(|s| (s.created, &s.id) > (cursor_created, &cursor.to_owned()))
            .collect();
        let has_more = before.len() > limit;
        let skip = before.len().saturating_sub(limit);
        (before.into_iter().skip(skip).collect::<Vec<_>>(), has_more)
    } else {
        let has_more = matching.len() > limit;
        (
            matching.into_iter().take(limit).collect::<Vec<_>>(),
            has_more,
        )
    };
    let data: Vec<Value> = page
        .into_iter()
        .map(|s| account.subscription_json(s, version, expand_product, expand_customer))
        .collect();
    Reply::json(
        200,
        json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/subscriptions"}),
    )
}

type PortalRecord = (String, String, Option<String>);

fn portal_session(
    account: &Account,
    incoming: &Incoming,
    now: i64,
    base_url: &Url,
) -> (Reply, Option<PortalRecord>) {
    let Some(customer) = incoming.param("customer") else {
        return (
            api_error(
                400,
                "invalid_request_error",
                Some("parameter_missing"),
                Some("customer"),
                "Missing required param: customer.",
            ),
            None,
        );
    };
    if account.customer(customer).is_none_or(|c| c.deleted) {
        return (no_such("customer", customer, 400, "customer"), None);
    }
    if let Some(configuration) = incoming.param("configuration") {
        return (
            no_such("configuration", configuration, 400, "configuration"),
            None,
        );
    }
    if !account.has_portal_config {
        return (
            api_error(
                400,
                "invalid_request_error",
                None,
                None,
                "You can\u{2019}t create a portal session in test mode until you save your customer portal settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal.",
            ),
            None,
        );
    }
    let token = format!("test_{}", new_id("x", 40).trim_start_matches("x_"));
    let return_url = incoming.param("return_url").map(str::to_owned);
    let url = format!(
        "{}/p/session/{token}",
        base_url.as_str().trim_end_matches('/')
    );
    let body = json!({
        "id": new_id("bps", 24),
        "object": "billing_portal.session",
        "configuration": format!("bpc_{}", account.id.trim_start_matches("acct_")),
        "created": now,
        "customer": customer,
        "customer_account": null,
        "flow": null,
        "livemode": false,
        "locale": incoming.param("locale"),
        "on_behalf_of": incoming.param("on_behalf_of"),
        "return_url": return_url,
        "url": url
    });
    (
        Reply::json(200, body),
        Some((token, customer.to_owned(), return_url)),
    )
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage {
    customer: String,
    return_url: Option<String>,
}

fn portal_page(shared: &Shared, path: &str) -> Reply {
    let token = path.trim_start_matches("/p/session/");
    let found = shared.model(|m| {
        let (account, customer, return_url) = m.portal_sessions.get(token)?.clone();
        let name = m
            .accounts
            .get(&account)
            .and_then(|a| a.customer(&customer))
            .map(|c| format!("{} ({})", c.name, c.email))?;
        Some((name, return_url))
    });
    match found {
        Some((customer, return_url)) => match (PortalPage {
            customer,
            return_url,
        })
        .render()
        {
            Ok(html) => Reply::html(200, html),
            Err(e) => Reply::html(500, format!("template error: {e}")),
        },
        None => Reply::html(404, "This portal session has expired.".into()),
    }
}

// ---------------------------------------------------------------------------------
// Events and the merchant dashboard

/// An event envelope for a connected account, rendered in the account's version.
pub(super) fn event(
    model: &Model,
    event_type: &str,
    account: Option<&str>,
    object: Value,
    now: i64,
) -> Value {
    let version = account
        .and_then(|a| model.accounts.get(a))
        .map(|a| a.default_version.clone())
        .unwrap_or_else(|| crate::model::DEFAULT_ACCOUNT_VERSION.into());
    json!({
        "id": new_id("evt", 24),
        "object": "event",
        "account": account,
        "api_version": version,
        "created": now,
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type
    })
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    csrf_token: &'a str,
    notice: Option<String>,
    accounts: Vec<DashboardAccount>,
    deliveries: Vec<String>,
}

struct DashboardAccount {
    id: String,
    name: String,
    connected: bool,
    has_portal_config: bool,
    /// (subscription id, customer name, customer id, status): the customer id is what a
    /// business records through the API.
    subscriptions: Vec<(String, String, String, String)>,
}

pub(super) fn dashboard(shared: &Shared, notice: Option<String>, csrf_token: &str) -> Reply {
    let accounts = shared.model(|m| {
        m.accounts
            .values()
            .map(|a| DashboardAccount {
                id: a.id.clone(),
                name: a.business_name.clone(),
                connected: a.connected,
                has_portal_config: a.has_portal_config,
                subscriptions: a
                    .subscriptions
                    .iter()
                    .map(|s| {
                        let who = a
                            .customer(&s.customer)
                            .map(|c| c.name.clone())
                            .unwrap_or_default();
                        (s.id.clone(), who, s.customer.clone(), s.status.clone())
                    })
                    .collect(),
            })
            .collect()
    });
    let deliveries = shared
        .deliveries()
        .iter()
        .rev()
        .take(20)
        .map(|d| {
            format!(
                "{} {} → {}",
                d.event_type,
                d.event_id,
                d.status
                    .map(|s| format!("HTTP {s}"))
                    .unwrap_or_else(|| d.error.clone().unwrap_or_default())
            )
        })
        .collect();
    match (DashboardPage {
        csrf_token,
        notice,
        accounts,
        deliveries,
    })
    .render()
    {
        Ok(html) => Reply::html(200, html),
        Err(e) => Reply::html(500, format!("template error: {e}")),
    }
}

/// `POST /dashboard/accounts/{acct}/revoke` and
/// `POST /dashboard/accounts/{acct}/subscriptions/{sub}/cancel`.
fn dashboard_action(shared: &Shared, incoming: &Incoming, now: i64, outbox: &mut Outbox) -> Reply {
    let parts: Vec<&str> = incoming.path.trim_matches('/').split('/').collect();
    let notice = match parts.as_slice() {
        ["dashboard", "accounts", account, "revoke"] => shared.model(|m| {
            if m.revoke(account, now) {
                outbox.push(event(
                    m,
                    "account.application.deauthorized",
                    Some(account),
                    application_object(&m.connect_client_id),
                    now,
                ));
                format!("Access of the platform to {account} was revoked; account.application.deauthorized was sent.")
            } else {
                format!("{account} was not connected.")
            }
        }),
        ["dashboard", "accounts", account, "subscriptions", sub, "cancel"] => shared.model(|m| {
            let Some(acct) = m.accounts.get_mut(*account) else {
                return format!("No such account {account}.");
            };
            let Some(s) = acct.subscriptions.iter_mut().find(|s| s.id == *sub) else {
                return format!("No such subscription {sub}.");
            };
            s.status = "canceled".into();
            s.canceled_at = Some(now);
            s.ended_at = Some(now);
            let snapshot = s.clone();
            let version = acct.default_version.clone();
            let object = acct.subscription_json(&snapshot, &version, false, false);
            outbox.push(event(m, "customer.subscription.deleted", Some(account), object, now));
            format!("{sub} was canceled; customer.subscription.deleted was sent.")
        }),
        _ => "Unknown action.".into(),
    };
    with_page_session(shared, incoming, |token| {
        dashboard(shared, Some(notice), token)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_messages_are_masked_like_stripe_does() {
        assert_eq!(
            masked_key("sk_test_wrongwrongwrong1234"),
            "sk_test_***************1234"
        );
        assert_eq!(masked_key("sk_live_abc"), "sk_live_****");
        assert!(!masked_key("rk_test_supersecretvalue9876").contains("supersecret"));
    }

    #[test]
    fn redirects_encode_spaces_as_percent_20_and_keep_parameter_order() {
        let url = with_query(
            "https://auth.test/cb",
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied your request"),
                ("state", "a+b/c"),
            ],
        );
        assert_eq!(
            url,
            "https://auth.test/cb?error=access_denied&error_description=The%20user%20denied%20your%20request&state=a%2Bb%2Fc"
        );
        assert_eq!(
            with_query("https://a.test/cb?x=1", &[("code", "ac_1")]),
            "https://a.test/cb?x=1&code=ac_1"
        );
    }
}
