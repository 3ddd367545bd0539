//! The browsable API, after Django REST framework's: a person browsing `/api/` with the
//! logged-in session sees each endpoint as a page. The same handlers serve both: this
//! middleware lets the session stand in for a token (only for requests a browser makes
//! for a page), turns a page's form into the JSON body the handler reads, and renders
//! the handler's JSON answer as HTML around it. The endpoint's name, description,
//! methods and form fields come from the OpenAPI document.
//!
//! A request is a browser's when it sends no `Authorization` header and accepts
//! `text/html`. Programs never get here: a session never authorizes a JSON request.

use actix_session::SessionExt as _;
use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::Value;

use crate::accounts::User;
use crate::customers::parse_customer_id;
use crate::web::error::PageError;
use crate::web::openapi::{self, Endpoint};
use crate::web::pages::Layout;
use crate::web::session::{CurrentUser, VerifiedForm};
use crate::web::AppState;

use super::auth::SessionUser;

/// What a browser asked for.
struct Browsing {
    /// `?format=json`: the handler's JSON as it is, instead of the page.
    raw_json: bool,
}

impl Browsing {
    fn of(req: &HttpRequest) -> Option<Self> {
        if req.headers().contains_key(header::AUTHORIZATION) {
            return None;
        }
        let accepts_html = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| {
                accept.split(',').any(|media_range| {
                    media_range
                        .split(';')
                        .next()
                        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/html"))
                })
            });
        accepts_html.then(|| Browsing {
            raw_json: url::form_urlencoded::parse(req.query_string().as_bytes())
                .any(|(k, v)| k == "format" && v == "json"),
        })
    }
}

pub async fn browsable(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(browsing) = Browsing::of(req.request()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let user = match req.extract::<CurrentUser>().await {
        Ok(CurrentUser(user)) => user,
        Err(e) => return Ok(req.error_response(e)),
    };
    let sent_body = if is_safe(req.method()) {
        None
    } else {
        match form_as_json(&mut req).await {
            Ok(body) => Some(body),
            Err(e) => return Ok(req.error_response(e)),
        }
    };
    req.extensions_mut().insert(SessionUser(user.clone()));
    let sent = SentRequest {
        method: req.method().to_string(),
        target: req.uri().to_string(),
        body: sent_body,
    };
    let response = next.call(req).await?;
    if browsing.raw_json {
        return Ok(response.map_into_boxed_body());
    }
    let (http_req, response) = response.map_into_boxed_body().into_parts();
    let page = match render(&http_req, response, user, sent).await {
        Ok(page) => page,
        Err(e) => actix_web::ResponseError::error_response(&e),
    };
    Ok(ServiceResponse::new(http_req, page))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A change comes from one of our pages' forms: CSRF-checked, its fields (blank ones
/// left out, as optional) become the handler's JSON body, and `_method=DELETE` turns
/// the POST into the DELETE an HTML form cannot send.
async fn form_as_json(req: &mut ServiceRequest) -> Result<Value, PageError> {
    let VerifiedForm(pairs) = req.extract::<VerifiedForm<Vec<(String, String)>>>().await?;
    let mut body = serde_json::Map::new();
    for (name, value) in pairs {
        match name.as_str() {
            "csrf_token" => {}
            "_method" if value == "DELETE" && req.method() == Method::POST => {
                req.head_mut().method = Method::DELETE;
            }
            "_method" => {
                return Err(PageError::BadRequest(
                    "_method can only turn a POST into a DELETE".into(),
                ))
            }
            _ if value.is_empty() => {}
            _ => {
                body.insert(name, Value::String(value));
            }
        }
    }
    let body = Value::Object(body);
    let bytes = serde_json::to_vec(&body).map_err(|e| PageError::internal(e))?;
    let headers = req.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    req.set_payload(Payload::from(bytes));
    Ok(body)
}

struct SentRequest {
    method: String,
    target: String,
    body: Option<Value>,
}

/// One piece of pretty-printed JSON; `href` makes it a link.
pub struct Token {
    pub class: &'static str,
    pub text: String,
    pub href: Option<String>,
}

#[derive(Template)]
#[template(path = "api_browsable.html")]
struct BrowsablePage {
    layout: Layout,
    title: String,
    endpoint: Option<Endpoint>,
    /// (label, link) from the API root down to this path.
    breadcrumbs: Vec<(String, Option<String>)>,
    path: String,
    /// This request with `format=json` added.
    json_link: String,
    request: SentRequest,
    request_body: Vec<Token>,
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<Token>,
}

async fn render(
    req: &HttpRequest,
    response: HttpResponse,
    user: User,
    request: SentRequest,
) -> Result<HttpResponse, PageError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| PageError::internal("application state missing"))?;
    let status = response.status();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or("(not text)").to_owned(),
            )
        })
        .collect();
    let kept_headers: Vec<_> = [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE]
        .into_iter()
        .filter_map(|name| {
            let value = response.headers().get(&name)?.clone();
            Some((name, value))
        })
        .collect();
    let bytes = body::to_bytes(response.into_body())
        .await
        .map_err(|_| PageError::internal("the API answer could not be read"))?;
    let body = if bytes.is_empty() {
        Vec::new()
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(json) => pretty(&json),
            Err(_) => vec![plain(String::from_utf8_lossy(&bytes).into_owned())],
        }
    };
    let path = req.path().to_owned();
    let json_link = match req.query_string() {
        "" => format!("{path}?format=json"),
        query => format!("{path}?{query}&format=json"),
    };
    let endpoint = openapi::endpoint_at(&path);
    let title = endpoint
        .as_ref()
        .and_then(|e| e.operations.first())
        .map(|o| o.summary.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| path.clone());
    let page = BrowsablePage {
        layout: Layout::new(state, &req.get_session(), Some(user), "api")?,
        title,
        endpoint,
        breadcrumbs: breadcrumbs(&path),
        request_body: request.body.as_ref().map(pretty).unwrap_or_default(),
        request,
        path,
        json_link,
        status: format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        ),
        headers,
        body,
    };
    let mut page_response = HttpResponse::build(status);
    for (name, value) in kept_headers {
        page_response.insert_header((name, value));
    }
    Ok(page_response
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// `API › customers › cus_…`: the API tab, then each path segment down to this one.
fn breadcrumbs(path: &str) -> Vec<(String, Option<String>)> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .skip(1)
        .filter(|s| !s.is_empty())
        .collect();
    let mut crumbs = vec![("API".to_owned(), Some("/dashboard/api/".to_owned()))];
    for (i, segment) in segments.iter().enumerate() {
        let link = (i + 1 < segments.len()).then(|| format!("/api/{}/", segments[..=i].join("/")));
        crumbs.push(((*segment).to_owned(), link));
    }
    crumbs
}

fn plain(text: String) -> Token {
    Token {
        class: "",
        text,
        href: None,
    }
}

/// Where a JSON string leads: itself when it is an http(s) URL (never another scheme,
/// so a stored `javascript:` cannot become a link), and a customer's own endpoint for a
/// valid `customer_id`.
fn link_for(key: Option<&str>, value: &str) -> Option<String> {
    if key == Some("customer_id") {
        return parse_customer_id(value)
            .ok()
            .map(|id| format!("/api/customers/{id}/"));
    }
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Some(value.to_owned()),
        _ => None,
    }
}

/// Pretty-prints JSON (two-space indents, like `serde_json`'s) as tokens for the
/// template, which escapes them.
pub fn pretty(value: &Value) -> Vec<Token> {
    let mut tokens = Vec::new();
    write_value(&mut tokens, None, value, 0);
    tokens
}

fn write_value(tokens: &mut Vec<Token>, key: Option<&str>, value: &Value, depth: usize) {
    let token = |class, text: String| Token {
        class,
        text,
        href: None,
    };
    let newline = |depth: usize| plain(format!("\n{}", "  ".repeat(depth)));
    match value {
        Value::Null => tokens.push(token("json-null", "null".into())),
        Value::Bool(b) => tokens.push(token("json-bool", b.to_string())),
        Value::Number(n) => tokens.push(token("json-number", n.to_string())),
        Value::String(s) => tokens.push(Token {
            class: "json-string",
            text: Value::String(s.clone()).to_string(),
            href: link_for(key, s),
        }),
        Value::Array(items) if items.is_empty() => tokens.push(plain("[]".into())),
        Value::Object(fields) if fields.is_empty() => tokens.push(plain("{}".into())),
        Value::Array(items) => {
            tokens.push(plain("[".into()));
            for (i, item) in items.iter().enumerate() {
                tokens.push(newline(depth + 1));
                write_value(tokens, None, item, depth + 1);
                if i + 1 < items.len() {
                    tokens.push(plain(",".into()));
                }
            }
            tokens.push(newline(depth));
            tokens.push(plain("]".into()));
        }
        Value::Object(fields) => {
            tokens.push(plain("{".into()));
            for (i, (name, field)) in fields.iter().enumerate() {
                tokens.push(newline(depth + 1));
                tokens.push(token("json-key", Value::String(name.clone()).to_string()));
                tokens.push(plain(": ".into()));
                write_value(tokens, Some(name), field, depth + 1);
                if i + 1 < fields.len() {
                    tokens.push(plain(",".into()));
                }
            }
            tokens.push(newline(depth));
            tokens.push(plain("}".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn text(tokens: &[Token]) -> String {
        tokens.iter().map(|t| t.text.as_str()).collect()
    }

    fn links(tokens: &[Token]) -> Vec<&str> {
        tokens.iter().filter_map(|t| t.href.as_deref()).collect()
    }

    #[test]
    fn json_is_printed_as_serde_json_pretty_prints_it() {
        let value = json!({"a": [1, {"b": null}], "c": "d", "e": [], "f": {}});
        assert_eq!(
            text(&pretty(&value)),
            serde_json::to_string_pretty(&value).expect("json")
        );
    }

    #[test]
    fn only_http_urls_and_customer_ids_become_links() {
        let tokens = pretty(&json!({
            "portal_url": "https://billing.example/p/session/1",
            "return_url": "javascript:alert(1)",
            "other": "data:text/html,<script>",
            "customer_id": "cus_Abc123",
            "not_a_customer": {"customer_id": "../../admin"},
        }));
        assert_eq!(
            links(&tokens),
            vec![
                "/api/customers/cus_Abc123/",
                "https://billing.example/p/session/1"
            ]
        );
    }

    #[test]
    fn breadcrumbs_lead_from_the_api_tab_down_the_path() {
        assert_eq!(
            breadcrumbs("/api/customers/cus_1/portal_sessions/"),
            vec![
                ("API".to_owned(), Some("/dashboard/api/".to_owned())),
                ("customers".to_owned(), Some("/api/customers/".to_owned())),
                ("cus_1".to_owned(), Some("/api/customers/cus_1/".to_owned())),
                ("portal_sessions".to_owned(), None),
            ]
        );
    }
}
