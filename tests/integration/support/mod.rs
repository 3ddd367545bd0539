//! The test application: the real server on a random port with a database of its own
//! (a temp-file SQLite, or a fresh PostgreSQL database when TEST_DATABASE_URL is set).

pub mod browser;
mod database;
pub mod stripe;

use std::collections::HashMap;
use std::sync::Arc;

use bridgekeeper::accounts::{self, BusinessName, Email, NewAccount, NewPassword, User};
use bridgekeeper::clock::ManualClock;
use bridgekeeper::config::Settings;
use bridgekeeper::crypto::MasterKey;
use bridgekeeper::events::Actor;
use bridgekeeper::startup::Application;
use bridgekeeper::web::AppState;
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use stripe_emulator::EmulatorHandle;

pub use database::TestDatabase;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of the metrics listener, when `METRICS_ADDRESS` set one.
    pub metrics_address: Option<String>,
    pub state: AppState,
    pub clock: ManualClock,
    /// A browser-like client: keeps cookies, does not follow redirects.
    pub client: reqwest::Client,
    /// What a second instance needs to share this one's database (see
    /// [`TestAppBuilder::sharing_database_with`]).
    pub database_url: String,
    pub master_key: String,
    /// The Stripe emulator the app started in sandbox mode (see [`TestApp::emulator`]).
    stripe_emulator: Option<EmulatorHandle>,
    /// `None` for an instance that shares another's database (the first one drops it).
    _db: Option<TestDatabase>,
    _data_dir: tempfile::TempDir,
}

pub struct TestAppBuilder {
    env: HashMap<String, String>,
    shared: Option<(String, String, ManualClock)>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            env: HashMap::new(),
            shared: None,
        }
    }

    pub fn clock_now(&self) -> i64 {
        bridgekeeper::clock::Clock::now(&self.clock)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Another browser (its own cookie jar) logged in as `email` with the test password.
    /// Runs `work` on a database connection of its own, outside the service (as an
    /// operator would with `psql` or `sqlite3`): to read raw rows or to break
    /// something on purpose.
    pub async fn raw_database<T, W>(&self, work: W) -> T
    where
        W: FnOnce(&mut bridgekeeper::db::Backend) -> T + Send + 'static,
        T: Send + 'static,
    {
        let manager = bridgekeeper::db::ConnectionManager::new(self.state.db.url().clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = manager.connect().expect("connect").into_backend();
            work(&mut conn)
        })
        .await
        .expect("raw database work")
    }

    /// Registers a client through the same use case the OAuth tab and the CLI call.
    pub async fn register_client(
        &self,
        owner: &User,
        form: bridgekeeper::oauth::registration::ClientForm,
    ) -> (bridgekeeper::oauth::client::Client, Option<String>) {
        let registration =
            bridgekeeper::oauth::registration::validate(&form).expect("valid registration");
        bridgekeeper::oauth::clients::register(
            &self.state.db,
            &self.state.credential_hasher,
            &self.state.oauth.cors,
            owner.id,
            registration,
            Actor::system("test"),
            self.clock_now(),
        )
        .await
        .expect("client registered")
    }

    /// A CSRF token for `client`'s session, from the login page.
    pub async fn csrf_token_of(&self, client: &reqwest::Client) -> String {
        let page = client
            .get(self.url("/login"))
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .expect("body");
        csrf_token_in(&page)
    }

    pub async fn logged_in_client(&self, email: &str) -> reqwest::Client {
        let browser = self.new_client();
        let token = self.csrf_token_of(&browser).await;
        let response = browser
            .post(self.url("/login"))
            .form(&[
                ("email", email),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login as {email}");
        browser
    }

    /// Another cookie jar: a second person at another browser.
    pub fn new_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .expect("client")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// GETs `form_page` and returns its CSRF token (which also starts the session).
    pub async fn csrf_token(&self, form_page: &str) -> String {
        csrf_token_in(&self.get(form_page).await.text().await.expect("body"))
    }

    /// POSTs a form with the session's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf_token_for_session().await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        self.client
            .post(self.url(path))
            .form(&form)
            .send()
            .await
            .expect("POST")
    }

    /// The CSRF token of the current session (from a page every session can open).
    pub async fn csrf_token_for_session(&self) -> String {
        self.csrf_token("/login").await
    }

    pub async fn sign_up(&self, business: &str, email: &str, password: &str) -> reqwest::Response {
        self.post_form(
            "/signup",
            &[
                ("business_name", business),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    pub async fn log_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_form("/login", &[("email", email), ("password", password)])
            .await
    }

    /// Creates an account through the same use case the CLI calls.
    pub async fn create_account(&self, email: &str, is_admin: bool) -> User {
        accounts::create_account(
            &self.state.db,
            self.state.clock.as_ref(),
            NewAccount {
                email: Email::parse(email).expect("email"),
                password: NewPassword::parse(PASSWORD).expect("password"),
                business_name: BusinessName::parse("Acme Inc").expect("name"),
                is_admin,
            },
            Actor::system("test"),
        )
        .await
        .expect("account created")
    }

    /// A business account, logged in on `self.client`.
    pub async fn logged_in_business(&self, email: &str) -> User {
        let user = self.create_account(email, false).await;
        let response = self.log_in(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login failed");
        user
    }

    /// An admin account, logged in on `self.client`.
    pub async fn logged_in_admin(&self, email: &str) -> User {
        let user = self.create_account(email, true).await;
        let response = self.log_in(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login failed");
        user
    }
}

impl TestAppBuilder {
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// A second instance of the application on `other`'s database, with the same
    /// master key, public URL (issuer) and clock: two servers behind one load balancer.
    pub fn sharing_database_with(mut self, other: &TestApp) -> Self {
        self.env
            .insert("PUBLIC_URL".to_owned(), other.state.settings.issuer());
        self.shared = Some((
            other.database_url.clone(),
            other.master_key.clone(),
            other.clock.clone(),
        ));
        self
    }

    pub async fn spawn(self) -> TestApp {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let (db, database_url, master_key, clock) = match self.shared {
            Some((url, key, clock)) => (None, url, key, clock),
            None => {
                let db = TestDatabase::create(data_dir.path()).await;
                let url = db.url().to_owned();
                (
                    Some(db),
                    url,
                    MasterKey::generate().to_base64(),
                    ManualClock::starting_now(),
                )
            }
        };
        let mut env: HashMap<String, String> = [
            ("BIND_ADDRESS", "127.0.0.1:0".to_owned()),
            ("SANDBOX_STRIPE_ADDRESS", "127.0.0.1:0".to_owned()),
            ("DATABASE_URL", database_url.clone()),
            ("DATA_DIR", data_dir.path().display().to_string()),
            ("MASTER_KEY", master_key.clone()),
            ("LOG_LEVEL", "warn".to_owned()),
            ("DATABASE_POOL_SIZE", "4".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(self.env);
        let settings = Settings::from_lookup(|k| env.get(k).cloned()).expect("test settings");
        let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
            .await
            .expect("application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let state = app.state().clone();
        let stripe_emulator = app.stripe_emulator().cloned();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .expect("client");
        TestApp {
            address,
            metrics_address,
            state,
            clock,
            client,
            database_url,
            master_key,
            stripe_emulator,
            _db: db,
            _data_dir: data_dir,
        }
    }
}

/// The value of the first `csrf_token` hidden field in a page.
pub fn csrf_token_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .expect("Location header")
        .to_str()
        .expect("ascii")
        .to_owned()
}
