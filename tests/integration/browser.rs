//! What a person sees, in a real headless Chromium.

use fantoccini::Locator;

use crate::support::browser::Browser;
use crate::support::{TestApp, PASSWORD};

#[tokio::test]
async fn a_business_signs_up_logs_out_logs_in_and_sees_the_dashboard_tabs() {
    let app = TestApp::spawn().await;
    let browser = Browser::start().await;
    let c = &browser.client;

    c.goto(&app.url("/signup")).await.expect("open sign-up");
    browser.fill("input[name=business_name]", "Acme Inc").await;
    browser.fill("input[name=email]", "owner@acme.test").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser
        .click("form[action='/signup'] button[type=submit]")
        .await;

    // Only the dashboard has the tabs: wait for them, not for the sign-up page's heading.
    c.wait()
        .for_element(Locator::Css("nav.tabs a.active"))
        .await
        .expect("dashboard");
    let heading = c
        .find(Locator::Css("main h1"))
        .await
        .expect("dashboard heading");
    assert_eq!(heading.text().await.expect("text"), "OAuth clients");
    let url = c.current_url().await.expect("url");
    assert!(url.path().ends_with("/dashboard/oauth/"), "{url}");
    let mut names = Vec::new();
    for tab in c.find_all(Locator::Css("nav.tabs a")).await.expect("tabs") {
        names.push(tab.text().await.expect("text"));
    }
    assert_eq!(names, ["OAuth", "Connect", "Customers", "API"]);

    browser.click(".who button").await;
    c.wait()
        .for_element(Locator::Css("input[name=email]"))
        .await
        .expect("login page");
    let url = c.current_url().await.expect("url");
    assert!(url.path().ends_with("/login"), "{url}");

    browser.log_in(&app.url("/login"), "owner@acme.test").await;
    browser
        .click("nav.tabs a[href='/dashboard/connect/']")
        .await;
    // Only the Connect tab has the Connect button: wait for it, not for the old page.
    c.wait()
        .for_element(Locator::Css("#connect"))
        .await
        .expect("the Connect tab");
    let body = c
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(body.contains("Stripe"), "{body}");
    assert!(body.contains("Not connected"), "{body}");

    browser.close().await;
}
