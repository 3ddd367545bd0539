//! CORS for `/api/`: a single-page app on an origin registered for a client calls the
//! API with its bearer token and may read the answers and their error headers.

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ORIGIN,
};
use reqwest::{Method, StatusCode};

use bridgekeeper::oauth::cors::STALE_AFTER_SECONDS;

use crate::oauth::{business_with_spa, SPA_ORIGIN};
use crate::support::TestApp;

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, app.url("/api/customers/"))
        .header(ORIGIN, origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("OPTIONS")
}

#[tokio::test]
async fn a_registered_origin_may_call_the_api_and_read_its_error_headers() {
    let app = TestApp::spawn().await;
    business_with_spa(&app).await;

    let allowed = preflight(&app, SPA_ORIGIN).await;
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    let headers = allowed.headers();
    assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], SPA_ORIGIN);
    assert!(headers[ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .expect("ascii")
        .contains("POST"));
    assert!(headers[ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .expect("ascii")
        .contains("Authorization"));
    assert!(
        !headers.contains_key(ACCESS_CONTROL_ALLOW_CREDENTIALS),
        "cookies never cross origins"
    );

    let refused = reqwest::Client::new()
        .get(app.url("/api/customers/"))
        .header(ORIGIN, SPA_ORIGIN)
        .send()
        .await
        .expect("GET");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], SPA_ORIGIN);
    let exposed = refused.headers()[ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(exposed.contains("WWW-Authenticate") && exposed.contains("Retry-After"));
}

#[tokio::test]
async fn an_origin_no_client_registered_gets_no_cors_headers() {
    let app = TestApp::spawn().await;
    business_with_spa(&app).await;
    let stranger = "https://evil.test";
    let answer = preflight(&app, stranger).await;
    assert!(!answer.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    let answer = reqwest::Client::new()
        .get(app.url("/api/customers/"))
        .header(ORIGIN, stranger)
        .send()
        .await
        .expect("GET");
    assert!(!answer.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
}

fn allows(answer: &reqwest::Response) -> bool {
    answer.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN)
}

#[tokio::test]
async fn an_origin_registered_at_one_instance_is_allowed_at_every_instance_within_five_seconds() {
    let first = TestApp::spawn().await;
    let second = TestApp::builder()
        .sharing_database_with(&first)
        .spawn()
        .await;
    assert!(
        !allows(&preflight(&second, SPA_ORIGIN).await),
        "no client yet"
    );

    business_with_spa(&first).await;
    assert!(
        allows(&preflight(&first, SPA_ORIGIN).await),
        "at once where the client was registered"
    );
    assert!(
        !allows(&preflight(&second, SPA_ORIGIN).await),
        "the other instance's copy is still fresh"
    );
    first.clock.advance(STALE_AFTER_SECONDS);
    assert!(
        allows(&preflight(&second, SPA_ORIGIN).await),
        "and at most {STALE_AFTER_SECONDS} s old"
    );
}
