//! The guide's single-page app (`index.html`, `config.mjs`, `spa.mjs`), served from a
//! loopback origin and run in a real headless Chromium: the person signs in on
//! bridgekeeper's pages, the app calls the API across origins (CORS), lives through an
//! expired access token and opens the Stripe portal.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use fantoccini::Locator;

use super::{business_with_stripe, cache_dir, pinned_version, program, public_client};
use crate::support::browser::Browser;
use crate::support::{TestApp, PASSWORD};

/// oauth4webapi's browser build, installed at the version the guide pins.
fn oauth4webapi() -> PathBuf {
    let modules = cache_dir("GUIDE_NODE_MODULES", "guide-js/node_modules");
    let version = pinned_version("oauth4webapi");
    let install = format!(
        "install it with `npm install --prefix ~/.cache/bridgekeeper/guide-js oauth4webapi@{version}` (scripts/test does)"
    );
    let manifest = std::fs::read_to_string(modules.join("oauth4webapi/package.json"))
        .unwrap_or_else(|_| {
            panic!(
                "oauth4webapi is missing in {}: {install}",
                modules.display()
            )
        });
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("package.json");
    assert_eq!(
        manifest["version"], version,
        "the guide pins oauth4webapi@{version}: {install}"
    );
    modules.join("oauth4webapi/build/index.js")
}

/// The guide's `config.mjs` with this server's issuer and the registered client id.
fn config(issuer: &str, client_id: &str) -> String {
    let guide = program("config.mjs");
    let config = guide
        .replace("'https://auth.example.com'", &format!("'{issuer}'"))
        .replace("'YOUR_CLIENT_ID'", &format!("'{client_id}'"));
    assert!(
        config.contains(issuer) && config.contains(client_id),
        "config.mjs no longer has the placeholders this test fills in:\n{guide}"
    );
    config
}

/// Serves `files` (path → content type, body) from `listener`; every other path answers
/// `/index.html`, as a single-page app's host does.
fn serve(listener: TcpListener, files: HashMap<&'static str, (&'static str, String)>) {
    let files = Arc::new(files);
    let server = HttpServer::new(move || {
        let files = files.clone();
        App::new().default_service(web::to(move |req: HttpRequest| {
            let files = files.clone();
            async move {
                let (content_type, body) = files
                    .get(req.path())
                    .or_else(|| files.get("/index.html"))
                    .expect("index.html is served");
                HttpResponse::Ok()
                    .content_type(*content_type)
                    .insert_header(("Cache-Control", "no-store"))
                    .body(body.clone())
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser
        .client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .expect("text")
}

async fn refresh_token_in_session_storage(browser: &Browser) -> String {
    browser
        .client
        .execute("return sessionStorage.getItem('bk.refresh_token')", vec![])
        .await
        .expect("read sessionStorage")
        .as_str()
        .expect("the app keeps a refresh token")
        .to_owned()
}

#[tokio::test]
async fn the_single_page_app_signs_in_records_a_customer_survives_expiry_and_opens_the_portal() {
    let app = TestApp::spawn().await;
    let (owner, _, alice) = business_with_stripe(&app).await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let origin = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let client = public_client(&app, &owner, &format!("{origin}/callback"), Some(&origin)).await;
    let library = std::fs::read_to_string(oauth4webapi()).expect("oauth4webapi");
    let javascript = "text/javascript; charset=utf-8";
    serve(
        listener,
        HashMap::from([
            (
                "/index.html",
                ("text/html; charset=utf-8", program("index.html")),
            ),
            (
                "/config.mjs",
                (javascript, config(&app.address, &client.client_id)),
            ),
            ("/spa.mjs", (javascript, program("spa.mjs"))),
            ("/oauth4webapi.js", (javascript, library)),
        ]),
    );

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{origin}/"))
        .await
        .expect("open the app");
    browser.click("#sign-in:not([hidden])").await;
    // bridgekeeper's own login page, then its consent page.
    browser.fill("input[name=email]", "owner@acme.test").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser.click("#approve").await;

    // Back in the app: signed in, the code gone from the address bar.
    text_of(&browser, "#signed-in:not([hidden])").await;
    let address = browser.client.current_url().await.expect("url");
    assert_eq!(address.as_str(), format!("{origin}/"));

    browser
        .fill("#record input[name=customer_id]", &alice)
        .await;
    browser.click("#record button").await;
    let item = format!("li[data-customer-id='{alice}']");
    let shown = text_of(&browser, &item).await;
    for expected in ["Alice Active", "Pro monthly", "(active, renews"] {
        assert!(shown.contains(expected), "{expected:?} in {shown:?}");
    }

    // The access token expires; the next call gets 401, refreshes once and retries.
    let refresh_token = refresh_token_in_session_storage(&browser).await;
    app.clock
        .advance(app.state.settings.oauth.access_token_ttl_seconds + 1);
    browser
        .client
        .execute(
            "document.getElementById('customers').replaceChildren()",
            vec![],
        )
        .await
        .expect("clear the list");
    browser.click("#reload").await;
    assert!(text_of(&browser, &item).await.contains("Alice Active"));
    assert_ne!(
        refresh_token_in_session_storage(&browser).await,
        refresh_token,
        "the rotated refresh token replaced the used one"
    );
    assert_eq!(text_of(&browser, "#status").await, "", "no error shown");

    // Manage billing: a fresh portal session, and the browser goes there.
    browser.click(&format!("{item} button")).await;
    let portal = app.emulator().base_url().as_str().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = browser.client.current_url().await.expect("url");
        if url.as_str().starts_with(&portal) {
            break;
        }
        assert!(Instant::now() < deadline, "still at {url}, not the portal");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await;
}
