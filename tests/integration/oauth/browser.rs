//! The PKCE flow in a real headless Chromium: log in, consent (approve and deny),
//! land on the client's loopback redirect URI.

use fantoccini::Locator;
use reqwest::StatusCode;

use super::*;
use crate::support::browser::Browser;
use crate::support::PASSWORD;

async fn fill(c: &fantoccini::Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .expect("field")
        .send_keys(text)
        .await
        .expect("type");
}

#[tokio::test]
async fn a_person_logs_in_and_approves_or_denies_a_spa_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let owner = app.create_account("owner@acme.test", false).await;
    let mut form = spa_form();
    form.name = "Desktop Billing".into();
    form.redirect_uris = vec!["http://127.0.0.1/cb".into()];
    form.always_ask_consent = true;
    let (client, _) = register(&app, &owner, form).await;
    let port = app.address.rsplit(':').next().expect("port").to_owned();
    let redirect_uri = format!("http://127.0.0.1:{port}/cb");
    let pkce = Pkce::new();
    let params = authorize_query(
        &client.client_id,
        &pkce,
        &[
            ("redirect_uri", &redirect_uri),
            ("state", "browser state/ü"),
        ],
    );

    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&app.url(&authorize_path(&params)))
        .await
        .expect("open authorize");
    c.wait()
        .for_element(Locator::Css("input[name=password]"))
        .await
        .expect("login page first");
    fill(c, "input[name=email]", "owner@acme.test").await;
    fill(c, "input[name=password]", PASSWORD).await;
    c.find(Locator::Css("button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("log in");
    let approve = c
        .wait()
        .for_element(Locator::Id("approve"))
        .await
        .expect("consent page after login");
    let heading = c
        .find(Locator::Css("main h1"))
        .await
        .expect("h1")
        .text()
        .await
        .expect("text");
    assert_eq!(heading, "Authorize Desktop Billing");
    approve.click().await.expect("approve");
    let mut landed = c.current_url().await.expect("url");
    for _ in 0..50 {
        if landed.path() == "/cb" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        landed = c.current_url().await.expect("url");
    }
    assert_eq!(landed.path(), "/cb", "back at the client: {landed}");
    let landed = landed.to_string();
    assert_eq!(
        query_param(&landed, "state").as_deref(),
        Some("browser state/ü")
    );
    assert_eq!(
        query_param(&landed, "iss"),
        Some(app.state.oauth.issuer.clone())
    );
    let code = query_param(&landed, "code").expect("code");
    let tokens = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &client.client_id),
            ("code_verifier", &pkce.verifier),
        ],
        None,
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(
        api_me(&app, &tokens.access_token()).await.status(),
        StatusCode::OK
    );

    // The client always asks: the second time the person says no.
    c.goto(&app.url(&authorize_path(&params)))
        .await
        .expect("open authorize");
    c.wait()
        .for_element(Locator::Id("deny"))
        .await
        .expect("consent page")
        .click()
        .await
        .expect("deny");
    let mut landed = c.current_url().await.expect("url");
    for _ in 0..50 {
        if landed.path() == "/cb" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        landed = c.current_url().await.expect("url");
    }
    let landed = landed.to_string();
    assert_eq!(
        query_param(&landed, "error").as_deref(),
        Some("access_denied")
    );
    assert!(query_param(&landed, "code").is_none());
    assert_eq!(
        query_param(&landed, "state").as_deref(),
        Some("browser state/ü")
    );

    browser.close().await;
}
