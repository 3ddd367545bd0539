//! Server-side sessions: the cookie holds a token, the database holds the session, so
//! ending a session ends every copy of its cookie.

use bridgekeeper::accounts::sessions::CACHE_SECONDS;
use reqwest::header::{COOKIE, SET_COOKIE, USER_AGENT};
use reqwest::StatusCode;

use crate::support::{csrf_token_in, location, TestApp, PASSWORD};

/// A browser whose cookie the test holds in hand, so that it can be copied.
struct Browser {
    http: reqwest::Client,
    cookie: String,
    user_agent: &'static str,
}

impl Browser {
    fn new(user_agent: &'static str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: String::new(),
            user_agent,
        }
    }

    /// Another browser holding a copy of this one's cookie (stolen, or synced).
    fn copy(&self) -> Self {
        Self {
            http: self.http.clone(),
            cookie: self.cookie.clone(),
            user_agent: "Copier/1.0",
        }
    }

    fn keep_cookie(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let value = value.to_str().expect("ascii cookie");
            if let Some(pair) = value.split(';').next() {
                if pair.starts_with("bk_session=") {
                    self.cookie = pair.to_owned();
                }
            }
        }
    }

    async fn get(&mut self, app: &TestApp, path: &str) -> reqwest::Response {
        let response = self
            .http
            .get(app.url(path))
            .header(COOKIE, &self.cookie)
            .header(USER_AGENT, self.user_agent)
            .send()
            .await
            .expect("GET");
        self.keep_cookie(&response);
        response
    }

    async fn page(&mut self, app: &TestApp, path: &str) -> String {
        let response = self.get(app, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.expect("body")
    }

    async fn post(
        &mut self,
        app: &TestApp,
        path: &str,
        csrf_page: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = csrf_token_in(&self.page(app, csrf_page).await);
        let mut form = fields.to_vec();
        form.push(("csrf_token", &token));
        let response = self
            .http
            .post(app.url(path))
            .header(COOKIE, &self.cookie)
            .header(USER_AGENT, self.user_agent)
            .form(&form)
            .send()
            .await
            .expect("POST");
        self.keep_cookie(&response);
        response
    }

    async fn log_in(&mut self, app: &TestApp, email: &str) {
        let response = self
            .post(
                app,
                "/login",
                "/login",
                &[("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login as {email}");
    }

    /// Whether this cookie still opens the dashboard.
    async fn is_logged_in(&mut self, app: &TestApp) -> bool {
        let response = self.get(app, "/dashboard/oauth/").await;
        match response.status() {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => {
                assert!(location(&response).starts_with("/login"));
                false
            }
            other => panic!("dashboard answered {other}"),
        }
    }
}

/// The ids in the account page's "end this session" forms, in page order.
fn session_ids(account_page: &str) -> Vec<String> {
    account_page
        .split("/account/sessions/")
        .skip(1)
        .filter_map(|rest| rest.split_once("/end\"").map(|(id, _)| id.to_owned()))
        .collect()
}

async fn session_rows(app: &TestApp) -> i64 {
    app.raw_database(|conn| {
        use diesel::prelude::*;
        bridgekeeper::db::schema::user_sessions::table
            .count()
            .get_result::<i64>(conn)
            .expect("count")
    })
    .await
}

#[tokio::test]
async fn a_copied_session_cookie_stops_working_at_logout() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    let mut browser = Browser::new("Laptop/1.0");
    browser.log_in(&app, "owner@acme.test").await;
    let mut thief = browser.copy();
    assert!(
        thief.is_logged_in(&app).await,
        "a copy works while logged in"
    );

    let response = browser
        .post(&app, "/logout", "/dashboard/oauth/", &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    assert!(!thief.is_logged_in(&app).await, "the copy is worth nothing");
    assert_eq!(session_rows(&app).await, 0, "the session is gone");
}

#[tokio::test]
async fn the_database_keeps_only_a_hash_of_the_session_token() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    let mut browser = Browser::new("Laptop/1.0");
    browser.log_in(&app, "owner@acme.test").await;
    let stored: Vec<(String, Option<String>)> = app
        .raw_database(|conn| {
            use bridgekeeper::db::schema::user_sessions::dsl::*;
            use diesel::prelude::*;
            user_sessions
                .select((token_hash, user_agent))
                .load(conn)
                .expect("rows")
        })
        .await;
    assert_eq!(stored.len(), 1);
    let (hash, agent) = &stored[0];
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(agent.as_deref(), Some("Laptop/1.0"));
    assert!(!browser.cookie.contains(hash.as_str()));
}

#[tokio::test]
async fn logging_in_replaces_the_browsers_earlier_session() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    app.create_account("other@acme.test", false).await;
    let mut browser = Browser::new("Laptop/1.0");
    browser.page(&app, "/login").await;
    let before_login = browser.cookie.clone();
    browser.log_in(&app, "owner@acme.test").await;
    assert_ne!(browser.cookie, before_login, "a new cookie at login");
    let first = browser.copy();

    browser.log_in(&app, "other@acme.test").await;
    let mut first = first;
    assert!(
        !first.is_logged_in(&app).await,
        "the session the browser had before ends at the next login"
    );
    assert!(browser.is_logged_in(&app).await);
    assert_eq!(session_rows(&app).await, 1);
}

#[tokio::test]
async fn the_account_page_lists_each_session_and_ends_another_one() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    let mut laptop = Browser::new("Laptop/1.0");
    laptop.log_in(&app, "owner@acme.test").await;
    let mut phone = Browser::new("Phone/2.0");
    phone.log_in(&app, "owner@acme.test").await;

    let page = laptop.page(&app, "/account/").await;
    assert!(page.contains("Laptop/1.0") && page.contains("Phone/2.0"));
    assert!(page.contains("this session"));
    let ids = session_ids(&page);
    assert_eq!(ids.len(), 2);
    // Most recently used first: the phone logged in last, then the laptop read the
    // page; the current one is marked, so end the one that is not.
    let phone_id = if page.find("Phone/2.0") < page.find("Laptop/1.0") {
        &ids[0]
    } else {
        &ids[1]
    };
    let response = laptop
        .post(
            &app,
            &format!("/account/sessions/{phone_id}/end"),
            "/account/",
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/account/");
    let page = laptop.page(&app, "/account/").await;
    assert!(page.contains("Session ended."));
    assert!(!page.contains("Phone/2.0"));

    assert!(!phone.is_logged_in(&app).await, "the phone is logged out");
    assert!(laptop.is_logged_in(&app).await, "the laptop is not");
}

#[tokio::test]
async fn logging_out_every_other_session_keeps_this_one() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    let mut laptop = Browser::new("Laptop/1.0");
    laptop.log_in(&app, "owner@acme.test").await;
    let mut others = Vec::new();
    for agent in ["Phone/2.0", "Tablet/3.0"] {
        let mut other = Browser::new(agent);
        other.log_in(&app, "owner@acme.test").await;
        others.push(other);
    }
    let response = laptop
        .post(&app, "/account/sessions/end-others", "/account/", &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    for mut other in others {
        assert!(!other.is_logged_in(&app).await, "{}", other.user_agent);
    }
    assert!(laptop
        .page(&app, "/account/")
        .await
        .contains("2 other sessions ended."));
}

#[tokio::test]
async fn nobody_can_end_another_persons_session() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    app.create_account("mallory@evil.test", false).await;
    let mut owner = Browser::new("Laptop/1.0");
    owner.log_in(&app, "owner@acme.test").await;
    let owner_id = session_ids(&owner.page(&app, "/account/").await)
        .pop()
        .expect("an id");
    let mut mallory = Browser::new("Evil/1.0");
    mallory.log_in(&app, "mallory@evil.test").await;

    let response = mallory
        .post(
            &app,
            &format!("/account/sessions/{owner_id}/end"),
            "/account/",
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(owner.is_logged_in(&app).await);
    assert!(!mallory.page(&app, "/account/").await.contains("Laptop/1.0"));
}

#[tokio::test]
async fn an_admin_ends_every_session_of_a_business() {
    let app = TestApp::spawn().await;
    let owner = app.create_account("owner@acme.test", false).await;
    app.create_account("admin@platform.test", true).await;
    let mut laptop = Browser::new("Laptop/1.0");
    laptop.log_in(&app, "owner@acme.test").await;
    let mut phone = Browser::new("Phone/2.0");
    phone.log_in(&app, "owner@acme.test").await;
    let mut admin = Browser::new("Admin/1.0");
    admin.log_in(&app, "admin@platform.test").await;

    let response = admin
        .post(
            &app,
            &format!("/admin/users/{}/end-sessions", owner.id),
            "/admin/",
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(admin
        .page(&app, "/admin/")
        .await
        .contains("2 sessions of owner@acme.test ended."));
    assert!(!laptop.is_logged_in(&app).await);
    assert!(!phone.is_logged_in(&app).await);
    assert!(
        admin.is_logged_in(&app).await,
        "the admin's own session stays"
    );

    // A business cannot reach the admin action.
    laptop.log_in(&app, "owner@acme.test").await;
    let response = laptop
        .post(
            &app,
            &format!("/admin/users/{}/end-sessions", owner.id),
            "/dashboard/oauth/",
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_session_unused_for_the_idle_limit_ends() {
    let app = TestApp::builder()
        .with_env("SESSION_IDLE_SECONDS", "600")
        .spawn()
        .await;
    app.create_account("owner@acme.test", false).await;
    let mut browser = Browser::new("Laptop/1.0");
    browser.log_in(&app, "owner@acme.test").await;
    // Used every 500 s, it lives on past the idle limit...
    for _ in 0..3 {
        app.clock.advance(500);
        assert!(browser.is_logged_in(&app).await);
    }
    // ...and ends once unused for longer.
    app.clock.advance(601);
    assert!(!browser.is_logged_in(&app).await);
}

#[tokio::test]
async fn a_session_ends_at_its_lifetime_however_much_it_is_used() {
    let app = TestApp::builder()
        .with_env("SESSION_TTL_SECONDS", "1000")
        .with_env("SESSION_IDLE_SECONDS", "600")
        .spawn()
        .await;
    app.create_account("owner@acme.test", false).await;
    let mut browser = Browser::new("Laptop/1.0");
    browser.log_in(&app, "owner@acme.test").await;
    app.clock.advance(500);
    assert!(browser.is_logged_in(&app).await);
    app.clock.advance(499);
    assert!(browser.is_logged_in(&app).await);
    app.clock.advance(2);
    assert!(!browser.is_logged_in(&app).await);
}

#[tokio::test]
async fn sessions_that_ended_by_time_are_pruned() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    let mut browser = Browser::new("Laptop/1.0");
    browser.log_in(&app, "owner@acme.test").await;
    let idle = app.state.settings.sessions.idle_seconds;
    let now = app.clock_now();
    assert_eq!(app.state.sessions.prune(now).await.expect("prune"), 0);
    assert_eq!(
        app.state.sessions.prune(now + idle).await.expect("prune"),
        1
    );
    assert_eq!(session_rows(&app).await, 0);
}

#[tokio::test]
async fn a_logout_at_one_instance_ends_the_session_at_the_other_within_the_cache_bound() {
    let first = TestApp::spawn().await;
    let second = TestApp::builder()
        .sharing_database_with(&first)
        .spawn()
        .await;
    first.create_account("owner@acme.test", false).await;
    let mut browser = Browser::new("Laptop/1.0");
    browser.log_in(&first, "owner@acme.test").await;
    let mut at_second = browser.copy();
    assert!(
        at_second.is_logged_in(&second).await,
        "one session, both instances"
    );

    let response = browser
        .post(&first, "/logout", "/dashboard/oauth/", &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        !browser.copy().is_logged_in(&first).await,
        "at once where it ended"
    );

    // The other instance may answer from its cache for CACHE_SECONDS, no longer.
    first.clock.advance(CACHE_SECONDS);
    assert!(!at_second.is_logged_in(&second).await);
}

#[tokio::test]
async fn a_cookie_without_a_live_session_is_sent_to_login_and_emptied() {
    let app = TestApp::spawn().await;
    let owner = app.create_account("owner@acme.test", false).await;
    let mut browser = Browser::new("Laptop/1.0");
    browser.log_in(&app, "owner@acme.test").await;
    app.state
        .sessions
        .end_all(owner.id, bridgekeeper::events::Actor::system("test"))
        .await
        .expect("ended");
    let response = browser.get(&app, "/account/").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?next=%2Faccount%2F");
    assert!(
        response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .any(|c| c.to_str().is_ok_and(|c| c.starts_with("bk_session=;"))),
        "the cookie is removed"
    );
}

const NEW_PASSWORD: &str = "a brand new passphrase";

#[tokio::test]
async fn changing_the_password_ends_every_other_session_and_keeps_this_one() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    let mut laptop = Browser::new("Laptop/1.0");
    laptop.log_in(&app, "owner@acme.test").await;
    let mut phone = Browser::new("Phone/2.0");
    phone.log_in(&app, "owner@acme.test").await;

    let response = laptop
        .post(
            &app,
            "/account/password",
            "/account/",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(laptop
        .page(&app, "/account/")
        .await
        .contains("Password changed. Your 1 other session was ended."));
    assert!(!phone.is_logged_in(&app).await, "the other session ended");
    assert!(laptop.is_logged_in(&app).await, "this one stays");

    let old = app.log_in("owner@acme.test", PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED, "the old password");
    let new = app.log_in("owner@acme.test", NEW_PASSWORD).await;
    assert_eq!(new.status(), StatusCode::SEE_OTHER, "the new password");
}

#[tokio::test]
async fn a_password_change_with_a_wrong_current_password_changes_nothing() {
    let app = TestApp::spawn().await;
    app.create_account("owner@acme.test", false).await;
    let mut laptop = Browser::new("Laptop/1.0");
    laptop.log_in(&app, "owner@acme.test").await;
    let mut phone = Browser::new("Phone/2.0");
    phone.log_in(&app, "owner@acme.test").await;

    for (current, new, status, reason) in [
        (
            "not my password",
            NEW_PASSWORD,
            StatusCode::UNAUTHORIZED,
            "The current password is not right.",
        ),
        (
            PASSWORD,
            "short",
            StatusCode::BAD_REQUEST,
            "New password: use at least 10 characters.",
        ),
    ] {
        let response = laptop
            .post(
                &app,
                "/account/password",
                "/account/",
                &[("current_password", current), ("new_password", new)],
            )
            .await;
        assert_eq!(response.status(), status);
        assert!(response.text().await.expect("body").contains(reason));
    }
    assert!(phone.is_logged_in(&app).await, "no session ended");
    let login = app.log_in("owner@acme.test", PASSWORD).await;
    assert_eq!(
        login.status(),
        StatusCode::SEE_OTHER,
        "the password is unchanged"
    );
}
