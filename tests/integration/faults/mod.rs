//! Faults the real binary survives: killed with SIGKILL under load, stopped with SIGTERM
//! under load, its PostgreSQL server restarted under load, and transactions that lose
//! to concurrent ones. The server runs as a child process (`CARGO_BIN_EXE_bridgekeeper`)
//! on a database of its own (a SQLite file in its `DATA_DIR`, or a fresh PostgreSQL
//! database when `TEST_DATABASE_URL` is set), prepared with its command line.

mod crash;
mod outage;
mod shutdown;
mod transient;

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{csrf_token_in, TestDatabase, PASSWORD};

pub const OWNER: &str = "owner@faults.test";
pub const REDIRECT_URI: &str = "https://app.faults.test/cb";

/// The clients the command line registered before the first start.
#[derive(Clone)]
pub struct Seed {
    pub spa_client_id: String,
    pub backend_client_id: String,
    pub backend_secret: String,
}

/// The `bridgekeeper` binary serving on a fixed port (the same across restarts, so
/// the issuer and the clients' URLs stay the same).
pub struct ServerProcess {
    child: Option<Child>,
    pub base_url: String,
    pub database_url: String,
    env: Vec<(String, String)>,
    pub seed: Seed,
    data_dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
}

impl ServerProcess {
    /// A database of the suite's kind (SQLite, or PostgreSQL with `TEST_DATABASE_URL`),
    /// seeded, and the server started on it.
    pub async fn start(settings: &[(&str, &str)]) -> ServerProcess {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let database = TestDatabase::create(data_dir.path()).await;
        let url = database.url().to_owned();
        Self::start_on(url, Some(database), data_dir, settings).await
    }

    /// The server on the database at `database_url` (which the caller owns).
    pub async fn start_with_database(
        database_url: &str,
        settings: &[(&str, &str)],
    ) -> ServerProcess {
        let data_dir = tempfile::tempdir().expect("tempdir");
        Self::start_on(database_url.to_owned(), None, data_dir, settings).await
    }

    async fn start_on(
        database_url: String,
        database: Option<TestDatabase>,
        data_dir: tempfile::TempDir,
        settings: &[(&str, &str)],
    ) -> ServerProcess {
        let port = free_port();
        let mut env: Vec<(String, String)> = [
            ("BIND_ADDRESS", format!("127.0.0.1:{port}")),
            ("SANDBOX_STRIPE_ADDRESS", "127.0.0.1:0".to_owned()),
            ("DATABASE_URL", database_url.clone()),
            ("DATA_DIR", data_dir.path().display().to_string()),
            (
                "MASTER_KEY",
                bridgekeeper::crypto::MasterKey::generate().to_base64(),
            ),
            ("LOG_LEVEL", "warn".to_owned()),
            ("DATABASE_POOL_SIZE", "4".to_owned()),
            // Codes outlive a restart with room to spare.
            ("OAUTH_CODE_TTL_SECONDS", "600".to_owned()),
            // The load comes from one IP and one client: no budgets.
            ("RATE_LIMIT_OAUTH_PER_IP", "0".to_owned()),
            ("RATE_LIMIT_OAUTH_PER_CLIENT", "0".to_owned()),
            ("RATE_LIMIT_LOGIN_PER_IP", "0".to_owned()),
            ("BRIDGEKEEPER_PASSWORD", PASSWORD.to_owned()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (name, value) in settings {
            env.retain(|(k, _)| k != name);
            env.push(((*name).to_owned(), (*value).to_owned()));
        }
        let seed = {
            let env = env.clone();
            tokio::task::spawn_blocking(move || Seed::create(&env))
                .await
                .expect("seed task")
        };
        let mut server = ServerProcess {
            child: None,
            base_url: format!("http://127.0.0.1:{port}"),
            database_url,
            env,
            seed,
            data_dir,
            _database: database,
        };
        server.spawn().await;
        server
    }

    /// Starts the binary (again) with the same settings and waits until `/readyz`
    /// answers 200: it starts by itself, whatever state the last run left.
    pub async fn spawn(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("server log");
        let child = bridgekeeper_command(&self.env)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start bridgekeeper");
        self.child = Some(child);
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            if let Ok(response) = http.get(self.url("/readyz")).send().await {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            if let Some(status) = self.try_exit_status() {
                panic!("the server exited with {status} at start:\n{}", self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server was not ready within 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("server.log")
    }

    /// What the server wrote to standard error, for a failure's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits up to `limit` for the process to exit; its status and how long it took.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.try_exit_status() {
                self.child = None;
                return Some((status, started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// A raw connection to the server's database, outside the service (as an operator
    /// would open with `psql` or `sqlite3`).
    pub async fn raw_database<T, W>(&self, work: W) -> T
    where
        W: FnOnce(&mut bridgekeeper::db::Backend) -> T + Send + 'static,
        T: Send + 'static,
    {
        let url = bridgekeeper::db::DatabaseUrl::parse(&self.database_url).expect("URL");
        tokio::task::spawn_blocking(move || {
            let manager = bridgekeeper::db::ConnectionManager::new(url);
            let mut conn = manager.connect().expect("connect").into_backend();
            work(&mut conn)
        })
        .await
        .expect("raw database work")
    }

    pub fn is_sqlite(&self) -> bool {
        !self.database_url.starts_with("postgres")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn bridgekeeper_command(env: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bridgekeeper"));
    // Only what the test sets: no developer .env, no inherited DATABASE_URL.
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Seed {
    fn create(env: &[(String, String)]) -> Seed {
        let cli = |args: &[&str]| -> Value {
            let output = bridgekeeper_command(env)
                .args(args)
                .output()
                .expect("run the command line");
            assert!(
                output.status.success(),
                "`bridgekeeper {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
        };
        cli(&[
            "user",
            "create",
            "--email",
            OWNER,
            "--business-name",
            "Faults",
        ]);
        let spa = cli(&[
            "client",
            "create",
            "--owner",
            OWNER,
            "--name",
            "faults spa",
            "--type",
            "public",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            "customers:read",
            "--refresh-tokens",
        ]);
        let backend = cli(&[
            "client",
            "create",
            "--owner",
            OWNER,
            "--name",
            "faults backend",
            "--type",
            "confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "customers:read",
        ]);
        let field = |v: &Value, name: &str| {
            v[name]
                .as_str()
                .unwrap_or_else(|| panic!("`client create` printed no {name}: {v}"))
                .to_owned()
        };
        Seed {
            spa_client_id: field(&spa, "client_id"),
            backend_client_id: field(&backend, "client_id"),
            backend_secret: field(&backend, "client_secret"),
        }
    }
}

/// A PKCE verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = bridgekeeper::crypto::random_token(32);
        let challenge = bridgekeeper::oauth::pkce::s256_challenge(&verifier);
        Self {
            verifier,
            challenge,
        }
    }
}

/// What a client does against the server: as a browser (the owner, logged in, consent
/// given once) and as the SPA and back-end clients.
#[derive(Clone)]
pub struct Clients {
    pub base_url: String,
    pub seed: Seed,
    /// The owner's browser: cookies, no redirects followed.
    pub browser: reqwest::Client,
    /// Everything else: no cookies, no redirects followed.
    pub http: reqwest::Client,
}

/// One answer, read to its end.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn field(&self, name: &str) -> Option<String> {
        self.json()[name].as_str().map(str::to_owned)
    }
}

/// Sends a request and reads the whole answer; `Err` when no complete answer came.
pub async fn answer(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

impl Clients {
    /// Logs the owner in and gives the SPA consent once.
    pub async fn prepare(server: &ServerProcess) -> Clients {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let clients = Clients {
            base_url: server.base_url.clone(),
            seed: server.seed.clone(),
            browser,
            http,
        };
        clients.log_in().await;
        let pkce = Pkce::new();
        let consent = answer(clients.browser.get(clients.authorize_url(&pkce)))
            .await
            .expect("consent page");
        assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
        let mut fields = clients.authorize_params(&pkce);
        fields.push(("csrf_token".into(), csrf_token_in(&consent.body)));
        fields.push(("decision".into(), "approve".into()));
        let approved = answer(
            clients
                .browser
                .post(clients.url("/o/authorize/"))
                .form(&fields),
        )
        .await
        .expect("consent");
        assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
        clients
    }

    pub async fn log_in(&self) {
        let page = answer(self.browser.get(self.url("/login")))
            .await
            .expect("login page");
        let csrf = csrf_token_in(&page.body);
        let login = answer(self.browser.post(self.url("/login")).form(&[
            ("email", OWNER),
            ("password", PASSWORD),
            ("csrf_token", csrf.as_str()),
        ]))
        .await
        .expect("login");
        assert_eq!(login.status, StatusCode::SEE_OTHER, "login: {}", login.body);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    fn authorize_params(&self, pkce: &Pkce) -> Vec<(String, String)> {
        [
            ("response_type", "code"),
            ("client_id", self.seed.spa_client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "customers:read"),
            ("state", "faults"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    pub fn authorize_url(&self, pkce: &Pkce) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.authorize_params(pkce))
            .finish();
        self.url(&format!("/o/authorize/?{query}"))
    }

    /// The authorization request with the owner's session: the answer, and the code
    /// when it redirected with one.
    pub async fn authorize(&self, pkce: &Pkce) -> Result<(Answer, Option<String>), reqwest::Error> {
        let answer = answer(self.browser.get(self.authorize_url(pkce))).await?;
        let code = answer
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|location| url::Url::parse(location).ok())
            .and_then(|url| {
                url.query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
            });
        Ok((answer, code))
    }

    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<Answer, reqwest::Error> {
        answer(self.http.post(self.url("/o/token/")).form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", self.seed.spa_client_id.as_str()),
            ("code_verifier", verifier),
        ]))
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Answer, reqwest::Error> {
        answer(self.http.post(self.url("/o/token/")).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", self.seed.spa_client_id.as_str()),
        ]))
        .await
    }

    pub async fn client_credentials(&self) -> Result<Answer, reqwest::Error> {
        answer(
            self.http
                .post(self.url("/o/token/"))
                .basic_auth(
                    &self.seed.backend_client_id,
                    Some(&self.seed.backend_secret),
                )
                .form(&[("grant_type", "client_credentials")]),
        )
        .await
    }

    pub async fn api_me(&self, access_token: &str) -> Result<Answer, reqwest::Error> {
        answer(
            self.http
                .get(self.url("/api/me/"))
                .bearer_auth(access_token),
        )
        .await
    }

    pub async fn dashboard(&self) -> Result<Answer, reqwest::Error> {
        answer(self.browser.get(self.url("/dashboard/"))).await
    }
}

/// The family a refresh token names and its generation (`<family>~<generation>~<mac>`).
pub fn refresh_token_parts(token: &str) -> (String, i64) {
    let mut fields = token.split('~');
    let family = fields.next().expect("family").to_owned();
    let generation = fields.next().expect("generation").parse().expect("number");
    (family, generation)
}

/// The `sid` (family) an access token names.
pub fn access_token_family(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims["sid"].as_str().map(str::to_owned)
}
