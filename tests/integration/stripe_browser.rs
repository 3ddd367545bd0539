//! The Connect flow in a real headless Chromium: the business's dashboard, the
//! emulator's authorize page, Stripe's redirect back, Disconnect, and a revocation from
//! the emulator's merchant dashboard arriving as a webhook.

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::support::browser::Browser;
use crate::support::TestApp;

async fn log_in(app: &TestApp, browser: &Browser, email: &str) {
    app.create_account(email, false).await;
    browser.log_in(&app.url("/login"), email).await;
}

async fn main_text(c: &Client) -> String {
    c.wait()
        .for_element(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text")
}

/// Connect with Stripe → the emulator's page → approve → back on the Connect tab.
async fn connect(app: &TestApp, browser: &Browser) -> String {
    let c = &browser.client;
    c.goto(&app.url("/dashboard/connect/")).await.expect("tab");
    browser.click("#connect").await;
    // Only the emulator's authorize page has #approve: wait for it before reading.
    c.wait()
        .for_element(Locator::Css("#approve"))
        .await
        .expect("authorize page");
    let heading = c
        .find(Locator::Css("main h1"))
        .await
        .expect("authorize page")
        .text()
        .await
        .expect("text");
    assert_eq!(heading, "Connect your Stripe account");
    let url = c.current_url().await.expect("url");
    assert_eq!(
        url.port(),
        app.emulator().base_url().port(),
        "on the emulator"
    );
    assert!(
        main_text(c).await.contains("owner@acme.test"),
        "prefilled email shown"
    );
    browser.click("#approve").await;
    let account = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#account-id"))
        .await
        .expect("connected account shown")
        .text()
        .await
        .expect("text");
    assert!(c
        .current_url()
        .await
        .expect("url")
        .path()
        .ends_with("/dashboard/connect/"));
    account
}

#[tokio::test]
async fn a_business_connects_stripe_then_disconnects() {
    let app = TestApp::spawn().await;
    let browser = Browser::start().await;
    let c = &browser.client;
    log_in(&app, &browser, "owner@acme.test").await;

    let account = connect(&app, &browser).await;
    assert!(account.starts_with("acct_"), "{account}");
    let text = main_text(c).await;
    assert!(
        text.contains(&format!("Connected to Stripe account {account}")),
        "{text}"
    );
    assert!(text.contains("read_write"));
    let banner = c
        .find(Locator::Css(".sandbox-banner"))
        .await
        .expect("the sandbox banner is shown")
        .text()
        .await
        .expect("text");
    assert!(banner.contains("Sandbox mode"), "{banner}");

    browser.click("#disconnect").await;
    c.wait()
        .for_element(Locator::Css(".status.revoked"))
        .await
        .expect("revoked");
    let text = main_text(c).await;
    assert!(text.contains("Disconnected from Stripe."), "{text}");
    assert!(text.contains("when you disconnected it here"));
    assert!(!app.emulator().inspect(|m| m.accounts[&account].connected));
    browser.close().await;
}

#[tokio::test]
async fn denying_on_stripe_shows_stripes_words() {
    let app = TestApp::spawn().await;
    let browser = Browser::start().await;
    let c = &browser.client;
    log_in(&app, &browser, "owner@acme.test").await;
    c.goto(&app.url("/dashboard/connect/")).await.expect("tab");
    browser.click("#connect").await;
    browser.click("#deny").await;
    let flash = c
        .wait()
        .for_element(Locator::Css(".flash.error"))
        .await
        .expect("flash")
        .text()
        .await
        .expect("text");
    assert_eq!(
        flash,
        "Stripe did not connect your account: The user denied your request"
    );
    assert!(main_text(c).await.contains("Not connected"));
    browser.close().await;
}

#[tokio::test]
async fn revoking_on_the_emulator_dashboard_shows_revoked_on_the_connect_tab() {
    let app = TestApp::spawn().await;
    let browser = Browser::start().await;
    let c = &browser.client;
    log_in(&app, &browser, "owner@acme.test").await;
    let account = connect(&app, &browser).await;

    c.goto(&app.emulator().dashboard_url())
        .await
        .expect("emulator dashboard");
    // Its stylesheet loads under the content security policy (inline styles would not).
    c.wait()
        .for_element(Locator::Css(&format!("#revoke-{account}")))
        .await
        .expect("the revoke button");
    let background = c
        .execute(
            "return getComputedStyle(document.querySelector('button.danger')).backgroundColor",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(
        background, "rgb(223, 27, 65)",
        "the emulator's stylesheet applies"
    );
    // The button's form carries the CSRF token of this browser's emulator session.
    browser.click(&format!("#revoke-{account}")).await;
    let notice = c
        .wait()
        .for_element(Locator::Css(".notice"))
        .await
        .expect("notice")
        .text()
        .await
        .expect("text");
    assert!(
        notice.contains("account.application.deauthorized was sent"),
        "{notice}"
    );

    c.goto(&app.url("/dashboard/connect/")).await.expect("tab");
    let status = c
        .wait()
        .for_element(Locator::Css(".status.revoked"))
        .await
        .expect("revoked")
        .text()
        .await
        .expect("text");
    assert!(status.contains(&account), "{status}");
    assert!(status.contains("from Stripe"), "{status}");
    browser.close().await;
}
