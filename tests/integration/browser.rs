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
    c.find(Locator::Css("input[name=business_name]"))
        .await
        .expect("field")
        .send_keys("Acme Inc")
        .await
        .expect("type");
    c.find(Locator::Css("input[name=email]"))
        .await
        .expect("field")
        .send_keys("owner@acme.test")
        .await
        .expect("type");
    c.find(Locator::Css("input[name=password]"))
        .await
        .expect("field")
        .send_keys(PASSWORD)
        .await
        .expect("type");
    c.find(Locator::Css("button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("submit");

    let heading = c
        .wait()
        .for_element(Locator::Css("main h1"))
        .await
        .expect("dashboard");
    assert_eq!(heading.text().await.expect("text"), "OAuth clients");
    assert!(c
        .current_url()
        .await
        .expect("url")
        .path()
        .ends_with("/dashboard/oauth/"));
    let tabs = c.find_all(Locator::Css("nav.tabs a")).await.expect("tabs");
    let mut names = Vec::new();
    for tab in tabs {
        names.push(tab.text().await.expect("text"));
    }
    assert_eq!(names, ["OAuth", "Connect", "Customers", "API"]);

    c.find(Locator::Css(".who button"))
        .await
        .expect("logout")
        .click()
        .await
        .expect("log out");
    c.wait()
        .for_element(Locator::Css("input[name=email]"))
        .await
        .expect("login page");
    assert!(c
        .current_url()
        .await
        .expect("url")
        .path()
        .ends_with("/login"));

    c.find(Locator::Css("input[name=email]"))
        .await
        .expect("field")
        .send_keys("owner@acme.test")
        .await
        .expect("type");
    c.find(Locator::Css("input[name=password]"))
        .await
        .expect("field")
        .send_keys(PASSWORD)
        .await
        .expect("type");
    c.find(Locator::Css("button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("submit");
    c.wait()
        .for_element(Locator::Css("nav.tabs a.active"))
        .await
        .expect("dashboard");

    c.find(Locator::LinkText("Connect"))
        .await
        .expect("tab")
        .click()
        .await
        .expect("open tab");
    let heading = c
        .wait()
        .for_element(Locator::Css("main h1"))
        .await
        .expect("heading");
    assert_eq!(heading.text().await.expect("text"), "Stripe Connect");
    let body = c
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text");
    assert!(body.contains("Not connected"));

    browser.close().await;
}
