//! The sandbox emulator's pages for people (the Connect authorize page, the merchant
//! dashboard, the portal): every form carries the CSRF token of the browser's emulator
//! session and is refused with a readable 403 page without it; every page answer has
//! the service's own security headers; the API routes keep Stripe's wire format.

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use url::Url;

use crate::support::stripe::{decide, query_param};
use crate::support::{csrf_token_in, TestApp};

/// A browser of its own: keeps cookies, does not follow redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// The authorize page's form fields, as the person would send them, without a token.
fn decision_form(authorize: &Url, account: &str) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = authorize
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("stripe_user"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    form.push(("decision".into(), "approve".into()));
    form.push(("account".into(), account.into()));
    form
}

fn without_query(url: &Url) -> Url {
    let mut target = url.clone();
    target.set_query(None);
    target
}

async fn assert_refused(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let page = response.text().await.expect("page");
    assert!(page.contains("This form was refused"), "{page}");
    assert!(page.contains("Nothing was changed"), "{page}");
}

#[tokio::test]
async fn the_authorize_decision_is_refused_without_the_pages_csrf_token() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let authorize = app.start_connect().await;
    let codes = || app.emulator().inspect(|m| m.codes.len());
    let target = without_query(&authorize);

    // No session, no token: a form posted from anywhere else.
    let response = browser()
        .post(target.clone())
        .form(&decision_form(&authorize, "new"))
        .send()
        .await
        .expect("POST");
    assert_refused(response).await;

    // A session of its own, but a wrong token, or another session's token.
    let person = browser();
    let page = person
        .get(authorize.as_str())
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    let token = csrf_token_in(&page);
    let other = browser();
    let others_token = csrf_token_in(
        &other
            .get(authorize.as_str())
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("page"),
    );
    assert_ne!(token, others_token, "one token per browser session");
    for wrong in ["", "csrf_guessed", others_token.as_str()] {
        let mut form = decision_form(&authorize, "new");
        form.push(("csrf_token".into(), wrong.into()));
        let response = person
            .post(target.clone())
            .form(&form)
            .send()
            .await
            .expect("POST");
        assert_refused(response).await;
    }
    assert_eq!(codes(), 0, "no code was issued");

    // The page's own token: Stripe's redirect back with a code.
    let mut form = decision_form(&authorize, "new");
    form.push(("csrf_token".into(), token));
    let response = person.post(target).form(&form).send().await.expect("POST");
    assert_eq!(response.status(), StatusCode::FOUND);
    let callback = Url::parse(&crate::support::location(&response)).expect("url");
    assert!(query_param(&callback, "code").is_some(), "{callback}");
    assert_eq!(codes(), 1);
}

#[tokio::test]
async fn the_dashboards_revoke_and_cancel_buttons_are_refused_without_the_pages_csrf_token() {
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let account = app.connect_stripe(None).await;
    let (subscription, status) = app.emulator().inspect(|m| {
        let sub = m.accounts[&account]
            .subscriptions
            .iter()
            .find(|s| s.status == "active")
            .expect("active");
        (sub.id.clone(), sub.status.clone())
    });
    let dashboard = app.emulator().dashboard_url();
    let revoke = format!("{dashboard}/accounts/{account}/revoke");
    let cancel = format!("{dashboard}/accounts/{account}/subscriptions/{subscription}/cancel");

    let stranger = browser();
    let person = browser();
    let page = person
        .get(&dashboard)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    let token = csrf_token_in(&page);
    for url in [&revoke, &cancel] {
        assert_refused(stranger.post(url).send().await.expect("POST")).await;
        let forged = stranger
            .post(url)
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .expect("POST");
        assert_refused(forged).await;
        let wrong = person
            .post(url)
            .form(&[("csrf_token", "csrf_guessed")])
            .send()
            .await
            .expect("POST");
        assert_refused(wrong).await;
    }
    let after = app.emulator().inspect(|m| {
        let acct = &m.accounts[&account];
        let sub = acct
            .subscriptions
            .iter()
            .find(|s| s.id == subscription)
            .expect("sub");
        (acct.connected, sub.status.clone())
    });
    assert_eq!(after, (true, status), "nothing was changed");
    assert!(app
        .emulator()
        .deliveries()
        .iter()
        .all(|d| d.event_type != "customer.subscription.deleted"
            && d.event_type != "account.application.deauthorized"));

    // With the page's token, each does what it says.
    let response = person
        .post(&cancel)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("customer.subscription.deleted was sent"));
    let response = person
        .post(&revoke)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!app.emulator().inspect(|m| m.accounts[&account].connected));
}

const PAGE_HEADERS: [&str; 6] = [
    "content-security-policy",
    "x-frame-options",
    "referrer-policy",
    "x-content-type-options",
    "cache-control",
    "cross-origin-opener-policy",
];

fn page_headers(response: &reqwest::Response) -> Vec<(String, String)> {
    PAGE_HEADERS
        .iter()
        .map(|name| {
            let value = response
                .headers()
                .get(*name)
                .map(|v| v.to_str().expect("ascii").to_owned())
                .unwrap_or_else(|| panic!("{} has no {name}", response.url()));
            ((*name).to_owned(), value)
        })
        .collect()
}

#[tokio::test]
async fn the_emulators_pages_carry_the_services_security_headers_and_its_api_keeps_stripes_format()
{
    assert_eq!(
        stripe_emulator::pages::CONTENT_SECURITY_POLICY,
        bridgekeeper::web::middleware::CONTENT_SECURITY_POLICY,
        "the same policy, word for word"
    );
    let app = TestApp::spawn().await;
    app.logged_in_business("owner@acme.test").await;
    let service = page_headers(&app.get("/login").await);
    assert!(service.contains(&("x-frame-options".into(), "DENY".into())));
    assert!(service.contains(&("referrer-policy".into(), "no-referrer".into())));
    assert!(service.contains(&("x-content-type-options".into(), "nosniff".into())));
    assert!(service.contains(&("cache-control".into(), "no-store".into())));

    let authorize = app.start_connect().await;
    let account = app.connect_stripe(None).await;
    let customer = app
        .emulator()
        .inspect(|m| m.accounts[&account].customers[0].id.clone());
    let portal = "bps_headers_test";
    app.emulator().inspect(|m| {
        m.portal_sessions
            .insert(portal.into(), (account.clone(), customer, None))
    });
    let base = app.emulator().base_url().as_str().trim_end_matches('/');
    let person = browser();
    for url in [
        authorize.to_string(),
        app.emulator().dashboard_url(),
        format!("{base}/p/session/{portal}"),
        format!("{base}/assets/emulator.css"),
    ] {
        let response = person.get(&url).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(page_headers(&response), service, "{url}");
        if response.headers()["content-type"] == "text/html; charset=utf-8" {
            let html = response.text().await.expect("page");
            assert!(
                !html.contains("<style") && !html.contains("style=\""),
                "inline styles would be blocked by the policy: {url}"
            );
        }
    }
    let refused = browser()
        .post(format!("{base}/dashboard/accounts/{account}/revoke"))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(page_headers(&refused), service, "the 403 page");

    // The session cookie is the browser's alone and never crosses sites on a POST.
    let response = browser()
        .get(app.emulator().dashboard_url())
        .send()
        .await
        .expect("GET");
    let cookie = response.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cookie.starts_with("stripe_emulator_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }

    // Stripe's API answers as Stripe's do: no page headers, no cookie.
    let secret = app
        .state
        .stripe
        .sandbox_credentials()
        .expect("sandbox")
        .secret_key
        .expose()
        .to_owned();
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/customers/{}", "cus_nobody"))
        .bearer_auth(&secret)
        .header("Stripe-Account", &account)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().contains_key("request-id"));
    for name in PAGE_HEADERS.iter().chain(&["set-cookie"]) {
        assert!(
            !response.headers().contains_key(*name),
            "the API answer has {name}"
        );
    }
    let body: serde_json::Value = response.json().await.expect("Stripe's envelope");
    assert_eq!(body["error"]["code"], "resource_missing");

    // The decision still works for a person who opened the page.
    let callback = decide(&authorize, "deny", None).await;
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("access_denied")
    );
}
