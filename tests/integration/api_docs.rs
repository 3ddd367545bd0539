//! The OpenAPI document (served, and committed as docs/openapi.json), the API reference
//! page and its content security policy, and the answers to methods an endpoint lacks.

use bridgekeeper::web::middleware::CONTENT_SECURITY_POLICY;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::TestApp;

const EVERY_PATH: [&str; 9] = [
    "/api/me/",
    "/api/customers/",
    "/api/customers/{customer_id}/",
    "/api/customers/{customer_id}/portal_sessions/",
    "/o/token/",
    "/o/revoke_token/",
    "/o/introspect/",
    "/.well-known/oauth-authorization-server",
    "/o/jwks/",
];

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ascii")
}

#[tokio::test]
async fn the_schema_is_openapi_3_1_json_naming_every_path_with_this_servers_urls() {
    let app = TestApp::spawn().await;
    let response = reqwest::get(app.url("/api/schema/")).await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").starts_with("application/json"));
    let doc: Value = response.json().await.expect("valid JSON");

    assert_eq!(doc["openapi"], "3.1.0");
    for path in EVERY_PATH {
        assert!(doc["paths"][path].is_object(), "{path} is missing");
    }
    assert_eq!(doc["servers"][0]["url"], app.address);
    let flows = &doc["components"]["securitySchemes"]["oauth2"]["flows"];
    assert_eq!(
        flows["authorizationCode"]["authorizationUrl"],
        app.url("/o/authorize/")
    );
    assert_eq!(flows["authorizationCode"]["tokenUrl"], app.url("/o/token/"));
    assert!(flows["authorizationCode"]["scopes"]["customers:write"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"]["clientSecretBasic"]["scheme"],
        "basic"
    );
}

#[tokio::test]
async fn the_committed_openapi_document_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == bridgekeeper::web::openapi::committed_json(),
        "docs/openapi.json is out of date with the code; regenerate it with\n\n    \
         cargo run -- openapi --output docs/openapi.json\n"
    );
}

#[tokio::test]
async fn the_reference_page_allows_only_the_pinned_swagger_ui_files_and_no_inline_script() {
    let app = TestApp::spawn().await;
    let response = reqwest::get(app.url("/api/docs/")).await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    let csp = header(&response, "content-security-policy").to_owned();
    let page = response.text().await.expect("body");

    let script = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/swagger-ui-bundle.js";
    assert!(
        csp.contains(&format!("script-src 'self' {script};")),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(page.contains(&format!("<script src=\"{script}\" integrity=\"sha384-")));
    assert!(
        !page.contains("<script>"),
        "no inline script: the policy would block it"
    );
    assert!(
        page.contains("<a href=\"/api/schema/\">"),
        "a link to the raw document"
    );

    // Every other page keeps the strict policy.
    let other = reqwest::get(app.url("/login")).await.expect("GET");
    assert_eq!(
        header(&other, "content-security-policy"),
        CONTENT_SECURITY_POLICY
    );
}

#[tokio::test]
async fn a_method_an_endpoint_lacks_gets_405_naming_the_methods_it_answers() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();

    let response = client
        .put(app.url("/api/customers/"))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&response, "allow"), "GET, POST");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "method_not_allowed");

    let response = client.get(app.url("/o/token/")).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&response, "allow"), "POST, OPTIONS");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].is_string());
}
