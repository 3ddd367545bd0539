//! Every request meets the same limits, and breaking one (or sending a query or path
//! the route cannot read) gets an answer in the route's own shape.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::oauth::{business_with_spa, spa_tokens};
use crate::support::TestApp;

const OVER_THE_LIMIT: usize = 64 * 1024 + 1;

async fn body_of(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

/// A person's form, a client's token request and a program's API call (with a valid
/// token, so that the API reads the body), each with what its refusal looks like.
struct Route {
    path: &'static str,
    content_type: &'static str,
    authorization: Option<String>,
    looks_right: Check,
}

/// Whether an answer's content type and body are the route's refusal.
type Check = fn(&str, &str) -> bool;

/// An app with a business whose SPA holds an access token, and the three routes.
async fn app_and_routes(env: &[(&str, &str)]) -> (TestApp, Vec<Route>) {
    let mut builder = TestApp::builder();
    for (key, value) in env {
        builder = builder.with_env(key, value);
    }
    let app = builder.spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let access_token = spa_tokens(&app, &client).await.access_token();
    let checks: [(&'static str, &'static str, Check); 3] = [
        ("/login", "application/x-www-form-urlencoded", |ct, body| {
            ct.starts_with("text/html") && body.contains("larger than the 64 KiB")
        }),
        (
            "/o/token/",
            "application/x-www-form-urlencoded",
            |ct, body| {
                ct == "application/json"
                    && body.contains(r#""error":"invalid_request""#)
                    && body.contains("larger than 65536 bytes")
            },
        ),
        ("/api/customers/", "application/json", |ct, body| {
            ct == "application/json" && body.contains(r#""error":"payload_too_large""#)
        }),
    ];
    let routes = checks
        .into_iter()
        .map(|(path, content_type, looks_right)| Route {
            path,
            content_type,
            authorization: path
                .starts_with("/api/")
                .then(|| format!("Bearer {access_token}")),
            looks_right,
        })
        .collect();
    (app, routes)
}

impl Route {
    /// The request head, for a body of `length` bytes or, without one, chunked.
    fn head(&self, length: Option<usize>) -> String {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nhost: localhost\r\ncontent-type: {}\r\n",
            self.path, self.content_type
        );
        if let Some(authorization) = &self.authorization {
            head.push_str(&format!("authorization: {authorization}\r\n"));
        }
        match length {
            Some(length) => head.push_str(&format!("content-length: {length}\r\n\r\n")),
            None => head.push_str("transfer-encoding: chunked\r\n\r\n"),
        }
        head
    }
}

/// The status line, content type and body of a raw answer.
fn parts(answer: &str) -> (&str, &str, &str) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.lines().next().expect("a status line");
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .expect("a content type");
    (status, content_type, body)
}

#[tokio::test]
async fn a_body_announced_larger_than_the_limit_is_refused_in_the_routes_shape() {
    let (app, routes) = app_and_routes(&[]).await;
    for route in routes {
        let answer = exchange(&app, &route.head(Some(OVER_THE_LIMIT)), b"").await;
        let (status, ct, body) = parts(&answer);
        assert_eq!(status, "HTTP/1.1 413 Payload Too Large", "{}", route.path);
        assert!((route.looks_right)(ct, body), "{}: {answer}", route.path);
    }
}

/// Sends `head` and then `body` over a socket of its own and reads the whole answer
/// (the server closes the connection after refusing a body).
async fn exchange(app: &TestApp, head: &str, body: &[u8]) -> String {
    let mut socket = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connect");
    socket.write_all(head.as_bytes()).await.expect("send head");
    // The server may refuse and close before all of the body is sent.
    let _ = socket.write_all(body).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
        .await
        .expect("answered and closed before the test's own deadline")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_chunked_body_that_grows_past_the_limit_is_refused_in_the_routes_shape() {
    let (app, routes) = app_and_routes(&[]).await;
    let mut chunked = Vec::new();
    for _ in 0..80 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b'a'; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    for route in routes {
        // No length announced: the limit applies as the body is read.
        let answer = exchange(&app, &route.head(None), &chunked).await;
        let (status, ct, body) = parts(&answer);
        assert_eq!(status, "HTTP/1.1 413 Payload Too Large", "{}", route.path);
        assert!((route.looks_right)(ct, body), "{}: {answer}", route.path);
    }
}

#[tokio::test]
async fn a_webhook_may_be_larger_than_a_form_but_not_without_bound() {
    let app = TestApp::spawn().await;
    let post = |size: usize| {
        app.client
            .post(app.url("/webhooks/stripe"))
            .header("content-type", "application/json")
            .body(vec![b' '; size])
            .send()
    };
    let large_event = post(512 * 1024).await.expect("POST");
    assert_eq!(
        large_event.status(),
        StatusCode::BAD_REQUEST,
        "read, then refused for its missing signature"
    );
    let (status, ct, body) = body_of(post(1024 * 1024 + 1).await.expect("POST")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(ct, "application/json");
    assert!(body.contains("larger than 1048576 bytes"), "{body}");
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408_and_the_connection_closed() {
    let (app, routes) = app_and_routes(&[("REQUEST_BODY_TIMEOUT_SECONDS", "1")]).await;
    for route in routes {
        // Part of the body, then nothing: the answer comes, and the connection closes,
        // once the body timeout passes.
        let answer = exchange(&app, &route.head(Some(100)), b"grant_type=").await;
        let (status, _, body) = parts(&answer);
        assert_eq!(status, "HTTP/1.1 408 Request Timeout", "{}", route.path);
        let expected = match route.path {
            "/login" => "took too long to arrive",
            "/o/token/" => r#""error":"invalid_request""#,
            _ => r#""error":"request_timeout""#,
        };
        assert!(body.contains(expected), "{}: {answer}", route.path);
    }
}

#[tokio::test]
async fn a_query_or_path_the_route_cannot_read_gets_a_page_not_plain_text() {
    let app = TestApp::spawn().await;
    app.logged_in_admin("admin@platform.test").await;
    let (status, ct, body) = body_of(app.get("/admin/audit/?before=abc").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("The address could not be read"), "{body}");
    let response = app.post_form("/account/sessions/abc/end", &[]).await;
    let (status, ct, body) = body_of(response).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("There is nothing at this address."));
}
