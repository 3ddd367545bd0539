//! Load benchmark: drives a real bridgekeeper server over loopback and reports, per
//! scenario, operations per second, p50/p99 latency and the server's CPU time per
//! operation (busy time of the server process over the measured window divided by the
//! operations completed, so it stays valid when the load generator is the limit).
//!
//! The server is pinned to one core (`taskset -c 1`) and this load generator to the
//! other (core 0). Build first, then run:
//!
//! ```sh
//! cargo build --release --workspace
//! target/release/bench --database sqlite            # or: --database postgres
//! target/release/bench --scenario healthz --seconds 5 --concurrency 32
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bridgekeeper::crypto::{random_token, MasterKey};
use clap::builder::{PossibleValuesParser, RangedU64ValueParser};
use clap::Parser;

/// Drives a real bridgekeeper server over loopback and prints, per scenario, ops/s,
/// p50/p99 latency and the server's CPU time per operation.
#[derive(Parser)]
#[command(name = "bench")]
struct Options {
    /// The database the server runs on.
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    database: String,
    /// The PostgreSQL server to create the run's database on (with `--database postgres`).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// A scenario to run (repeatable); every scenario when none is given.
    #[arg(long = "scenario", value_name = "NAME", value_parser = PossibleValuesParser::new(SCENARIOS))]
    scenarios: Vec<String>,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The measured seconds are cut into this many windows, each with its own CPU per
    /// operation; the median window is reported, with the range beside it.
    #[arg(long, default_value_t = 5, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    windows: usize,
    /// Warm-up seconds per scenario, not measured.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// A setting for the server, `NAME=VALUE` (repeatable), e.g. `SQLITE_SYNCHRONOUS=normal`.
    #[arg(long = "server-env", value_name = "NAME=VALUE", value_parser = parse_setting)]
    server_env: Vec<(String, String)>,
    /// Compares values of one setting in the same run, `NAME=A,B[,…]`: each round starts
    /// a fresh server (and database) per value, in turn, and runs the scenarios on it;
    /// a summary of the medians over the rounds, and their ratio to the first value's,
    /// follows the tables.
    #[arg(long, value_name = "NAME=A,B", value_parser = parse_comparison)]
    compare: Option<(String, Vec<String>)>,
    /// Rounds of `--compare` (the values alternate within each round).
    #[arg(long, default_value_t = 3, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    rounds: usize,
}

fn parse_setting(raw: &str) -> Result<(String, String), String> {
    let (name, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {raw:?}"))?;
    if name.is_empty() {
        return Err(format!("no setting named in {raw:?}"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

fn parse_comparison(raw: &str) -> Result<(String, Vec<String>), String> {
    let (name, values) = parse_setting(raw)?;
    let values: Vec<String> = values.split(',').map(str::to_owned).collect();
    if values.len() < 2 || values.iter().any(String::is_empty) {
        return Err(format!(
            "expected NAME=A,B with two values or more, got {raw:?}"
        ));
    }
    Ok((name, values))
}

/// Every scenario this binary knows, in the order they run by default.
const SCENARIOS: &[&str] = &[
    "healthz",
    "pkce_flow",
    "client_credentials",
    "refresh",
    "introspection",
    "customer_read",
    "customer_create",
    "emulator_direct",
    "healthz_under_password_flood",
];

/// Clients that flood `/signup` and `/login` (new accounts, wrong passwords) during
/// `healthz_under_password_flood`, beside the clients measuring `/healthz`.
const FLOOD_CLIENTS: usize = 32;

/// The server under test, pinned to core 1.
struct Server {
    child: Child,
    base_url: String,
    _data_dir: tempfile::TempDir,
}

impl Server {
    /// Prepares the database with the command line (accounts, clients), then starts the
    /// server on core 1.
    fn start(
        binary: &Path,
        database_url: &str,
        emulator: &Emulator,
        settings: &[(String, String)],
    ) -> Result<(Server, Seed), String> {
        let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port()?;
        let master_key = MasterKey::generate();
        let mut env: Vec<(&str, String)> = vec![
            ("STRIPE_API_BASE", emulator.base_url.clone()),
            ("STRIPE_CONNECT_BASE", emulator.base_url.clone()),
            ("CUSTOMERS_REFRESH_AFTER_SECONDS", "86400".into()),
            ("BIND_ADDRESS", format!("127.0.0.1:{port}")),
            ("SANDBOX_STRIPE_ADDRESS", "127.0.0.1:0".into()),
            ("DATA_DIR", data_dir.path().display().to_string()),
            ("DATABASE_URL", database_url.to_owned()),
            ("MASTER_KEY", master_key.to_base64()),
            ("LOG_LEVEL", "error".into()),
            ("DATABASE_POOL_SIZE", "8".into()),
            ("BRIDGEKEEPER_PASSWORD", PASSWORD.into()),
            // 32 clients on loopback are one sender: budgets far above what the bench
            // sends, so that the buckets are checked on every request but never refuse.
            ("RATE_LIMIT_OAUTH_PER_IP", "10000000".into()),
            ("RATE_LIMIT_OAUTH_PER_CLIENT", "10000000".into()),
            ("RATE_LIMIT_LOGIN_PER_IP", "10000000".into()),
            ("RATE_LIMIT_SIGNUP_PER_IP", "10000000".into()),
            // And the failed-login throttles, so that the password flood keeps asking
            // for hashes instead of being refused for free.
            ("LOGIN_MAX_FAILURES_PER_IP", "100000".into()),
        ];
        // The settings asked for come last, so they win over the bench's own.
        env.extend(settings.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let seed = Seed::create(binary, &env)?;
        emulator.configure_platform(database_url, &master_key)?;
        let mut command = Command::new("taskset");
        command
            .args(["-c", "1"])
            .arg(binary)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {} under taskset: {e}", binary.display()))?;
        let server = Server {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            _data_dir: data_dir,
        };
        server.wait_until_ready()?;
        Ok((server, seed))
    }

    fn wait_until_ready(&self) -> Result<(), String> {
        wait_for_port(&self.base_url)
    }

    /// User plus system CPU time the server process has used, in seconds.
    fn cpu_seconds(&self) -> Result<f64, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .map_err(|e| format!("cannot read the server's /proc stat: {e}"))?;
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or("bad /proc stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> Result<f64, String> {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| "bad /proc stat field".to_owned())
        };
        Ok((ticks(11)? + ticks(12)?) / clock_ticks_per_second())
    }

    fn resident_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The Stripe emulator as its own process on the load generator's core, so that its
/// work is not counted as the server's.
struct Emulator {
    child: Child,
    base_url: String,
    secret_key: String,
    connect_client_id: String,
}

impl Emulator {
    fn start(binary: &Path) -> Result<Emulator, String> {
        let port = free_port()?;
        let secret_key = format!("sk_test_bench{}", random_token(18).replace(['-', '_'], "x"));
        let connect_client_id = format!("ca_bench{}", random_token(18).replace(['-', '_'], "x"));
        let child = Command::new("taskset")
            .args(["-c", "0"])
            .arg(binary)
            .args(["stripe-emulator", "--bind", &format!("127.0.0.1:{port}")])
            .env("SANDBOX_SECRET_KEY", &secret_key)
            .env("SANDBOX_CONNECT_CLIENT_ID", &connect_client_id)
            .env("LOG_LEVEL", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the Stripe emulator: {e}"))?;
        let emulator = Emulator {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            secret_key,
            connect_client_id,
        };
        wait_for_port(&emulator.base_url)?;
        Ok(emulator)
    }

    /// Saves the emulator's keys as the platform's Stripe settings (what an admin does
    /// under Admin → Stripe settings), so the server does not start in sandbox mode.
    fn configure_platform(&self, database_url: &str, master_key: &MasterKey) -> Result<(), String> {
        use bridgekeeper::stripe::platform_settings::{self, SettingsForm};
        let url = bridgekeeper::db::DatabaseUrl::parse(database_url)?;
        let db =
            bridgekeeper::db::Database::connect(&url, 1, bridgekeeper::events::EventBus::new())
                .map_err(|e| e.to_string())?;
        let secret_box = bridgekeeper::crypto::SecretBox::new(master_key);
        let form = SettingsForm {
            secret_key: self.secret_key.clone(),
            publishable_key: "pk_test_bench".into(),
            connect_client_id: self.connect_client_id.clone(),
            new_webhook_secret: String::new(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(platform_settings::save(
                &db,
                &secret_box,
                0,
                form,
                bridgekeeper::events::Actor::system("bench"),
            ))
            .map_err(|e| e.to_string())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_port(base_url: &str) -> Result<(), String> {
    let address = base_url.trim_start_matches("http://").to_owned();
    for _ in 0..300 {
        if std::net::TcpStream::connect(&address).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listens on {address} after 15 s"))
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

const PASSWORD: &str = "bench password 0123456789";
const BUSINESS_EMAIL: &str = "bench@bridgekeeper.test";
const REDIRECT_URI: &str = "https://bench.bridgekeeper.test/callback";
const SCOPE: &str = "customers:read customers:write";

/// What the command line created before the server started.
struct Seed {
    spa_client_id: String,
    backend_client_id: String,
    backend_secret: String,
}

impl Seed {
    fn create(binary: &Path, env: &[(&str, String)]) -> Result<Seed, String> {
        let cli = |args: &[&str]| -> Result<serde_json::Value, String> {
            let output = Command::new(binary)
                .args(args)
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .output()
                .map_err(|e| e.to_string())?;
            if !output.status.success() {
                return Err(format!(
                    "`bridgekeeper {}` failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null))
        };
        cli(&[
            "user",
            "create",
            "--email",
            BUSINESS_EMAIL,
            "--business-name",
            "Bench",
        ])?;
        let spa = cli(&[
            "client",
            "create",
            "--owner",
            BUSINESS_EMAIL,
            "--name",
            "bench spa",
            "--type",
            "public",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            "customers:read",
            "--scope",
            "customers:write",
            "--refresh-tokens",
        ])?;
        let backend = cli(&[
            "client",
            "create",
            "--owner",
            BUSINESS_EMAIL,
            "--name",
            "bench backend",
            "--type",
            "confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "customers:read",
            "--scope",
            "customers:write",
        ])?;
        let field = |v: &serde_json::Value, name: &str| {
            v[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`client create` printed no {name}: {v}"))
        };
        Ok(Seed {
            spa_client_id: field(&spa, "client_id")?,
            backend_client_id: field(&backend, "client_id")?,
            backend_secret: field(&backend, "client_secret")?,
        })
    }
}

/// A browser-like client logged in as the bench business, with consent given once so
/// that later authorization requests redirect straight back with a code.
async fn logged_in_session(base_url: &str, seed: &Seed) -> Result<reqwest::Client, String> {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let login = page(&http, format!("{base_url}/login")).await?;
    let csrf = hidden_fields(&login)
        .into_iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v)
        .ok_or("the login page has no CSRF token")?;
    let response = http
        .post(format!("{base_url}/login"))
        .form(&[
            ("email", BUSINESS_EMAIL),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != reqwest::StatusCode::SEE_OTHER {
        return Err(format!("login failed: {}", response.status()));
    }
    let (_, challenge) = pkce_pair();
    let consent = page(
        &http,
        authorize_url(base_url, &seed.spa_client_id, &challenge),
    )
    .await?;
    // The consent form is the one with the decision buttons (the layout has others).
    let form = form_containing(&consent, "name=\"decision\"")
        .ok_or("no consent form on the first authorization")?;
    let mut fields = hidden_fields(form);
    if fields.is_empty() {
        return Err("no consent page for the first authorization".into());
    }
    fields.push(("decision".into(), "approve".into()));
    let approved = http
        .post(format!("{base_url}/o/authorize/"))
        .form(&fields)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !approved.status().is_redirection() {
        let status = approved.status();
        let body = approved.text().await.unwrap_or_default();
        return Err(format!("consent was not accepted: {status}: {body}"));
    }
    Ok(http)
}

/// Everything the scenarios share, prepared once over HTTP as a business would.
struct Fixture {
    seed: Seed,
    /// The business's logged-in browser session.
    session: reqwest::Client,
    /// A `customers:read customers:write` token and a recorded customer.
    customer_token: String,
    customer_id: String,
    account: String,
    emulator_base: String,
    emulator_key: String,
}

impl Fixture {
    async fn prepare(base_url: &str, seed: Seed, emulator: &Emulator) -> Result<Fixture, String> {
        let session = logged_in_session(base_url, &seed).await?;
        let account = connect_stripe(base_url, &session).await?;
        let plain = reqwest::Client::new();
        let subscriptions: serde_json::Value = plain
            .get(format!(
                "{}/v1/subscriptions?status=active&limit=1",
                emulator.base_url
            ))
            .bearer_auth(&emulator.secret_key)
            .header("Stripe-Account", &account)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let customer_id = subscriptions["data"][0]["customer"]
            .as_str()
            .ok_or_else(|| format!("no active subscription in the emulator: {subscriptions}"))?
            .to_owned();
        let mut fixture = Fixture {
            seed,
            session,
            customer_token: String::new(),
            customer_id,
            account,
            emulator_base: emulator.base_url.clone(),
            emulator_key: emulator.secret_key.clone(),
        };
        fixture.customer_token = pkce_flow(
            &plain,
            &fixture.session,
            base_url,
            &fixture.seed.spa_client_id,
        )
        .await?
        .tokens
        .access_token;
        let response = reqwest::Client::new()
            .post(format!("{base_url}/api/customers/"))
            .bearer_auth(&fixture.customer_token)
            .json(&serde_json::json!({"customer_id": fixture.customer_id}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != reqwest::StatusCode::CREATED {
            return Err(format!(
                "recording the bench customer answered {}",
                response.status()
            ));
        }
        Ok(fixture)
    }
}

/// The Connect flow: the tab's button, Stripe's (the emulator's) authorize page, the
/// redirect back. Returns the connected account id.
async fn connect_stripe(base_url: &str, session: &reqwest::Client) -> Result<String, String> {
    let tab = page(session, format!("{base_url}/dashboard/connect/")).await?;
    let form = form_containing(&tab, "/dashboard/connect/start")
        .ok_or("no Connect button on the Connect tab")?;
    let started = session
        .post(format!("{base_url}/dashboard/connect/start"))
        .form(&hidden_fields(form))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let authorize = redirect_target(&started)?;
    let mut decision: Vec<(String, String)> = authorize
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("stripe_user"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (k, v) in [
        ("email", "bench@bridgekeeper.test"),
        ("business_name", "Bench"),
        ("decision", "approve"),
        ("account", "new"),
    ] {
        decision.push((k.into(), v.into()));
    }
    // The emulator's page form carries its browser session's CSRF token.
    let stripe_browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let authorize_page = page(&stripe_browser, authorize.clone()).await?;
    let form = form_containing(&authorize_page, "/oauth/authorize")
        .ok_or("no decision form on the emulator's authorize page")?;
    decision.extend(
        hidden_fields(form)
            .into_iter()
            .filter(|(name, _)| name == "csrf_token"),
    );
    let mut target = authorize.clone();
    target.set_query(None);
    let approved = stripe_browser
        .post(target)
        .form(&decision)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let callback = redirect_target(&approved)?;
    let back = session
        .get(callback)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if back.status() != reqwest::StatusCode::SEE_OTHER {
        return Err(format!("the Connect callback answered {}", back.status()));
    }
    let tab = page(session, format!("{base_url}/dashboard/connect/")).await?;
    let marker = "<code id=\"account-id\">";
    let start = tab.find(marker).ok_or("the Connect tab shows no account")? + marker.len();
    let end = tab[start..].find('<').ok_or("unterminated account id")? + start;
    Ok(tab[start..end].to_owned())
}

fn redirect_target(response: &reqwest::Response) -> Result<url::Url, String> {
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("expected a redirect, got {}", response.status()))?;
    url::Url::parse(location).map_err(|e| e.to_string())
}

/// GETs a page's HTML with `client` (and its cookies).
async fn page(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> Result<String, String> {
    client
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())
}

/// The `<form …>` of a page whose markup contains `marker` (pages have several forms).
fn form_containing<'a>(html: &'a str, marker: &str) -> Option<&'a str> {
    html.split("<form")
        .skip(1)
        .find(|form| form.contains(marker))
}

/// `(name, value)` of every hidden input in a page (values HTML-unescaped).
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let marker = format!("{name}=\"");
        let start = tag.find(&marker)? + marker.len();
        let end = tag[start..].find('"')? + start;
        Some(unescape_html(&tag[start..end]))
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// Decodes the entities a template engine writes (`&amp;`, `&#x2f;`, `&#39;`, …).
fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find(';').filter(|&e| e <= 8) else {
            out.push('&');
            rest = after;
            continue;
        };
        let entity = &after[..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn pkce_pair() -> (String, String) {
    use base64::Engine as _;
    let verifier = random_token(32);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bridgekeeper::crypto::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_url(base_url: &str, client_id: &str, challenge: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", SCOPE)
        .append_pair("state", "bench")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("{base_url}/o/authorize/?{query}")
}

/// One simulated client. It performs one operation per call and keeps what the next
/// operation needs (its refresh token, say).
struct Worker {
    scenario: String,
    base_url: String,
    fixture: std::rc::Rc<Fixture>,
    /// Plain client for endpoints that need no session.
    http: reqwest::Client,
    refresh_token: Option<String>,
    access_token: Option<String>,
    /// Each PKCE flow's two requests, timed apart (ms).
    flow_requests: FlowRequests,
}

/// The latencies of a PKCE flow's authorization request and token exchange.
#[derive(Default)]
struct FlowRequests {
    authorization_ms: Vec<f64>,
    exchange_ms: Vec<f64>,
}

impl FlowRequests {
    fn append(&mut self, other: &mut FlowRequests) {
        self.authorization_ms.append(&mut other.authorization_ms);
        self.exchange_ms.append(&mut other.exchange_ms);
    }
}

#[derive(serde::Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
}

impl Worker {
    /// Whatever the scenario needs before it is measured.
    async fn prepare(&mut self) -> Result<(), String> {
        match self.scenario.as_str() {
            "refresh" => {
                let tokens = self.pkce_flow().await?;
                self.refresh_token = Some(tokens.refresh_token.ok_or("no refresh token issued")?);
            }
            "introspection" => {
                self.access_token = Some(self.client_credentials().await?.access_token);
            }
            _ => {}
        }
        Ok(())
    }

    /// Performs one operation.
    async fn operate(&mut self) -> Result<(), String> {
        match self.scenario.as_str() {
            "healthz" | "healthz_under_password_flood" => {
                expect_status(self.http.get(format!("{}/healthz", self.base_url)), 200).await
            }
            "pkce_flow" => self.pkce_flow().await.map(|_| ()),
            "client_credentials" => self.client_credentials().await.map(|_| ()),
            "refresh" => {
                let current = self.refresh_token.clone().ok_or("not prepared")?;
                let tokens: Tokens = token_response(self.http.post(self.token_url()).form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", current.as_str()),
                    ("client_id", self.fixture.seed.spa_client_id.as_str()),
                ]))
                .await?;
                self.refresh_token = Some(tokens.refresh_token.ok_or("no rotated refresh token")?);
                Ok(())
            }
            "introspection" => {
                let token = self.access_token.clone().ok_or("not prepared")?;
                let response = self
                    .http
                    .post(format!("{}/o/introspect/", self.base_url))
                    .basic_auth(
                        &self.fixture.seed.backend_client_id,
                        Some(&self.fixture.seed.backend_secret),
                    )
                    .form(&[("token", token.as_str())])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
                if body["active"] == serde_json::Value::Bool(true) {
                    Ok(())
                } else {
                    Err(format!("introspection answered {body}"))
                }
            }
            "customer_read" => {
                let url = format!(
                    "{}/api/customers/{}/",
                    self.base_url, self.fixture.customer_id
                );
                expect_status(
                    self.http.get(url).bearer_auth(&self.fixture.customer_token),
                    200,
                )
                .await
            }
            "customer_create" => {
                let request = self
                    .http
                    .post(format!("{}/api/customers/", self.base_url))
                    .bearer_auth(&self.fixture.customer_token)
                    .json(&serde_json::json!({"customer_id": self.fixture.customer_id}));
                expect_status(request, 200).await
            }
            "emulator_direct" => {
                // The Stripe calls one `POST /api/customers/` makes, straight to the
                // emulator: the baseline for the time bridgekeeper adds.
                let f = &self.fixture;
                let stripe = |request: reqwest::RequestBuilder| {
                    request
                        .bearer_auth(&f.emulator_key)
                        .header("Stripe-Account", &f.account)
                        .header(
                            "Stripe-Version",
                            bridgekeeper::config::DEFAULT_STRIPE_API_VERSION,
                        )
                };
                let base = &f.emulator_base;
                expect_status(
                    stripe(
                        self.http
                            .get(format!("{base}/v1/customers/{}", f.customer_id)),
                    ),
                    200,
                )
                .await?;
                let list = format!(
                    "{base}/v1/subscriptions?customer={}&status=all&limit=100&expand[]=data.items.data.price.product",
                    f.customer_id
                );
                expect_status(stripe(self.http.get(list)), 200).await?;
                let portal = stripe(self.http.post(format!("{base}/v1/billing_portal/sessions")))
                    .header("Idempotency-Key", random_token(16))
                    .form(&[("customer", f.customer_id.as_str())]);
                expect_status(portal, 200).await
            }
            other => Err(format!("no operation for scenario {other}")),
        }
    }

    fn token_url(&self) -> String {
        format!("{}/o/token/", self.base_url)
    }

    async fn pkce_flow(&mut self) -> Result<Tokens, String> {
        let flow = pkce_flow(
            &self.http,
            &self.fixture.session,
            &self.base_url,
            &self.fixture.seed.spa_client_id,
        )
        .await?;
        self.flow_requests
            .authorization_ms
            .push(flow.authorization_ms);
        self.flow_requests.exchange_ms.push(flow.exchange_ms);
        Ok(flow.tokens)
    }

    async fn client_credentials(&self) -> Result<Tokens, String> {
        token_response(
            self.http
                .post(self.token_url())
                .basic_auth(
                    &self.fixture.seed.backend_client_id,
                    Some(&self.fixture.seed.backend_secret),
                )
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", "customers:read"),
                ]),
        )
        .await
    }
}

/// The tokens of a PKCE flow and how long each of its requests took.
struct Flow {
    tokens: Tokens,
    authorization_ms: f64,
    exchange_ms: f64,
}

/// Authorization request with the logged-in session (consent remembered), then the code
/// exchange: two requests.
async fn pkce_flow(
    http: &reqwest::Client,
    session: &reqwest::Client,
    base_url: &str,
    client_id: &str,
) -> Result<Flow, String> {
    let (verifier, challenge) = pkce_pair();
    let started = Instant::now();
    let response = session
        .get(authorize_url(base_url, client_id, &challenge))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let code = redirect_target(&response)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or("no code in the authorization response")?;
    let authorization_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let tokens = token_response(http.post(format!("{base_url}/o/token/")).form(&[
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", client_id),
        ("code_verifier", verifier.as_str()),
    ]))
    .await?;
    Ok(Flow {
        tokens,
        authorization_ms,
        exchange_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

async fn token_response(request: reqwest::RequestBuilder) -> Result<Tokens, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "token endpoint answered {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

async fn expect_status(request: reqwest::RequestBuilder, status: u16) -> Result<(), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let got = response.status().as_u16();
    let _ = response.bytes().await;
    if got == status {
        Ok(())
    } else {
        Err(format!("expected {status}, got {got}"))
    }
}

struct Measurement {
    scenario: String,
    operations: usize,
    errors: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// For the PKCE flow: p50 and p99 of the authorization request and of the token
    /// exchange.
    flow_requests: Option<[(f64, f64); 2]>,
    /// The median over the measurement windows.
    server_cpu_us_per_op: f64,
    /// The lowest and highest window.
    cpu_spread: (f64, f64),
    resident_mib: Option<f64>,
}

async fn measure(
    server: &Server,
    fixture: &std::rc::Rc<Fixture>,
    scenario: &str,
    options: &Options,
) -> Result<Measurement, String> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let mut workers = Vec::with_capacity(options.concurrency);
    for _ in 0..options.concurrency {
        let mut worker = Worker {
            scenario: scenario.to_owned(),
            base_url: server.base_url.clone(),
            fixture: fixture.clone(),
            http: http.clone(),
            refresh_token: None,
            access_token: None,
            flow_requests: FlowRequests::default(),
        };
        worker.prepare().await?;
        workers.push(worker);
    }
    let flood = (scenario == "healthz_under_password_flood")
        .then(|| PasswordFlood::start(&server.base_url));
    // Warm-up: connections, caches, the database's pages.
    let workers = run_load(workers, Duration::from_secs(options.warmup))
        .await
        .0;
    // The measured time is cut into windows, each with its own CPU-per-operation
    // figure; the median of those is reported, so a burst of noise from another tenant
    // of this machine spoils one window, not the result.
    let window = Duration::from_secs_f64(options.seconds as f64 / options.windows as f64);
    let mut workers = workers;
    for worker in &mut workers {
        worker.flow_requests = FlowRequests::default();
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut cpu_per_op = Vec::with_capacity(options.windows);
    let started = Instant::now();
    for _ in 0..options.windows {
        let cpu_before = server.cpu_seconds()?;
        let (next, window_latencies, window_errors) = run_load(workers, window).await;
        let cpu = server.cpu_seconds()? - cpu_before;
        workers = next;
        if !window_latencies.is_empty() {
            cpu_per_op.push(cpu * 1e6 / window_latencies.len() as f64);
        }
        latencies.extend(window_latencies);
        errors += window_errors;
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(flood) = flood {
        flood.stop().await;
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    cpu_per_op.sort_by(|a, b| a.total_cmp(b));
    let mut requests = FlowRequests::default();
    for worker in &mut workers {
        requests.append(&mut worker.flow_requests);
    }
    let flow_requests = (!requests.authorization_ms.is_empty()).then(|| {
        [requests.authorization_ms, requests.exchange_ms].map(|mut ms| {
            ms.sort_by(|a, b| a.total_cmp(b));
            (percentile(&ms, 0.50), percentile(&ms, 0.99))
        })
    });
    Ok(Measurement {
        scenario: scenario.to_owned(),
        operations: latencies.len(),
        errors,
        seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        flow_requests,
        server_cpu_us_per_op: percentile(&cpu_per_op, 0.50),
        cpu_spread: (
            cpu_per_op.first().copied().unwrap_or(0.0),
            cpu_per_op.last().copied().unwrap_or(0.0),
        ),
        resident_mib: server.resident_mib(),
    })
}

/// Sign-ups and wrong-password logins, as fast as the server answers them, each client
/// with a session of its own (the forms need its CSRF token): every one asks for a
/// password hash, which the server must do off its HTTP workers and refuse (503) when
/// its queue is full.
struct PasswordFlood {
    running: std::rc::Rc<std::cell::Cell<bool>>,
    tasks: Vec<tokio::task::JoinHandle<(usize, usize)>>,
}

impl PasswordFlood {
    fn start(base_url: &str) -> Self {
        let running = std::rc::Rc::new(std::cell::Cell::new(true));
        let tasks = (0..FLOOD_CLIENTS)
            .map(|n| {
                let running = running.clone();
                let base_url = base_url.to_owned();
                tokio::task::spawn_local(async move {
                    let (mut answered, mut busy) = (0, 0);
                    let Ok(http) = reqwest::Client::builder()
                        .cookie_store(true)
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                    else {
                        return (answered, busy);
                    };
                    let mut attempt = 0u64;
                    while running.get() {
                        attempt += 1;
                        let path = if attempt % 2 == 0 {
                            "/signup"
                        } else {
                            "/login"
                        };
                        let email = format!("flood-{n}-{attempt}-{}@bench.test", random_token(4));
                        let Some(csrf) = csrf_token(&http, &format!("{base_url}{path}")).await
                        else {
                            continue;
                        };
                        let form = [
                            ("csrf_token", csrf.as_str()),
                            ("email", email.as_str()),
                            ("password", "not the password of anyone"),
                            ("business_name", "Flood"),
                        ];
                        match http
                            .post(format!("{base_url}{path}"))
                            .form(&form)
                            .send()
                            .await
                        {
                            Ok(r) if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                                busy += 1
                            }
                            Ok(_) => answered += 1,
                            Err(_) => {}
                        }
                    }
                    (answered, busy)
                })
            })
            .collect();
        Self { running, tasks }
    }

    async fn stop(self) {
        self.running.set(false);
        let (mut answered, mut busy) = (0, 0);
        for task in self.tasks {
            if let Ok((a, b)) = task.await {
                answered += a;
                busy += b;
            }
        }
        eprintln!(
            "  the flood: {answered} sign-ups and logins answered, {busy} refused as busy (503)"
        );
    }
}

/// The CSRF token of the form at `url` (the session starts with the GET).
async fn csrf_token(http: &reqwest::Client, url: &str) -> Option<String> {
    let page = http.get(url).send().await.ok()?.text().await.ok()?;
    let (_, rest) = page.split_once("name=\"csrf_token\" value=\"")?;
    rest.split_once('"').map(|(token, _)| token.to_owned())
}

/// Runs every worker in a loop for `duration`; returns the workers (for the next round),
/// successful latencies in milliseconds and the error count.
async fn run_load(workers: Vec<Worker>, duration: Duration) -> (Vec<Worker>, Vec<f64>, usize) {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            tokio::task::spawn_local(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                let mut first_error: Option<String> = None;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    match worker.operate().await {
                        Ok(()) => latencies.push(started.elapsed().as_secs_f64() * 1000.0),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                if let Some(e) = first_error {
                    eprintln!("  {}: {errors} errors, first: {e}", worker.scenario);
                }
                (worker, latencies, errors)
            })
        })
        .collect();
    let mut workers = Vec::new();
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((worker, latencies, task_errors)) = task.await {
            workers.push(worker);
            all.extend(latencies);
            errors += task_errors;
        }
    }
    (workers, all, errors)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn server_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let binary = exe.with_file_name("bridgekeeper");
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!(
            "{} not found; build it first with `cargo build --release --workspace`",
            binary.display()
        ))
    }
}

/// A fresh PostgreSQL database for this run, dropped afterwards.
struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    fn create(admin_url: &str) -> Result<Self, String> {
        use diesel::{Connection, RunQueryDsl};
        let name = format!(
            "bk_bench_{}",
            random_token(6).to_lowercase().replace(['-', '_'], "x")
        );
        let mut conn = diesel::PgConnection::establish(admin_url).map_err(|e| e.to_string())?;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .map_err(|e| e.to_string())?;
        let mut url = url::Url::parse(admin_url).map_err(|e| e.to_string())?;
        url.set_path(&name);
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        use diesel::{Connection, RunQueryDsl};
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

fn main() -> std::process::ExitCode {
    let mut options = Options::parse();
    if options.scenarios.is_empty() {
        options.scenarios = SCENARIOS.iter().map(|s| s.to_string()).collect();
    }
    match run(options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> Result<(), String> {
    // Pin this load generator to core 0; the server gets core 1.
    let _ = Command::new("taskset")
        .args(["-cp", "0", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
    let binary = server_binary()?;
    let emulator = Emulator::start(&binary)?;
    // One run of the scenarios per value compared, round after round; a single run
    // without `--compare`.
    let variants: Vec<Option<(String, String)>> = match &options.compare {
        Some((name, values)) => values
            .iter()
            .map(|value| Some((name.clone(), value.clone())))
            .collect(),
        None => vec![None],
    };
    let rounds = if options.compare.is_some() {
        options.rounds
    } else {
        1
    };
    let mut runs: Vec<(usize, Vec<Measurement>)> = Vec::new();
    for round in 1..=rounds {
        for (index, variant) in variants.iter().enumerate() {
            let mut settings = options.server_env.clone();
            settings.extend(variant.clone());
            let label = match variant {
                Some((name, value)) => {
                    format!("{}, {name}={value}, round {round}", options.database)
                }
                None => options.database.clone(),
            };
            let results = run_scenarios(&binary, &emulator, &options, &settings, &label)?;
            print_table(&label, &options, &results);
            runs.push((index, results));
        }
    }
    if let Some((name, values)) = &options.compare {
        print_comparison(name, values, &runs);
    }
    Ok(())
}

/// Starts a server with `settings` on a fresh database, prepares the fixture and runs
/// every scenario asked for.
fn run_scenarios(
    binary: &Path,
    emulator: &Emulator,
    options: &Options,
    settings: &[(String, String)],
    label: &str,
) -> Result<Vec<Measurement>, String> {
    let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let postgres = if options.database == "postgres" {
        Some(PostgresDatabase::create(&options.postgres_url)?)
    } else {
        None
    };
    let database_url = match &postgres {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}", data_dir.path().join("bench.db").display()),
    };
    let (server, seed) = Server::start(binary, &database_url, emulator, settings)?;
    eprintln!(
        "bridgekeeper on {} ({label}), {} clients, {} s per scenario after {} s warm-up",
        server.base_url, options.concurrency, options.seconds, options.warmup
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    let fixture = local.block_on(&runtime, Fixture::prepare(&server.base_url, seed, emulator))?;
    let fixture = std::rc::Rc::new(fixture);
    let mut results = Vec::new();
    for scenario in &options.scenarios {
        eprintln!("running {scenario} …");
        let measurement =
            local.block_on(&runtime, measure(&server, &fixture, scenario, options))?;
        results.push(measurement);
    }
    // The server stops (SIGTERM) before its database is dropped.
    drop(server);
    drop(postgres);
    Ok(results)
}

fn print_table(label: &str, options: &Options, results: &[Measurement]) {
    println!(
        "\n| scenario ({label}) | ops/s | p50 ms | p99 ms | server CPU µs/op (median of {} windows) | window range | errors | RSS MiB |",
        options.windows
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for m in results {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0}–{:.0} | {} | {} |",
            m.scenario,
            m.operations as f64 / m.seconds,
            m.p50_ms,
            m.p99_ms,
            m.server_cpu_us_per_op,
            m.cpu_spread.0,
            m.cpu_spread.1,
            m.errors,
            m.resident_mib
                .map(|r| format!("{r:.1}"))
                .unwrap_or_else(|| "?".into()),
        );
    }
    for m in results {
        if let Some([(authorize_p50, authorize_p99), (exchange_p50, exchange_p99)]) =
            m.flow_requests
        {
            println!(
                "\n{} by request: authorization p50 {authorize_p50:.2} / p99 {authorize_p99:.2} ms, \
                 token exchange p50 {exchange_p50:.2} / p99 {exchange_p99:.2} ms",
                m.scenario
            );
        }
    }
}

/// Per scenario and value: each round's CPU per operation and p99, their medians, and
/// the medians' ratio to the first value's.
fn print_comparison(name: &str, values: &[String], runs: &[(usize, Vec<Measurement>)]) {
    let scenarios: Vec<&str> = runs
        .first()
        .map(|(_, results)| results.iter().map(|m| m.scenario.as_str()).collect())
        .unwrap_or_default();
    println!("\n| scenario | {name} | server CPU µs/op by round | median | ratio | p99 ms by round | median | ratio |");
    println!("|---|---|---|---:|---:|---|---:|---:|");
    for scenario in scenarios {
        let mut baseline: Option<(f64, f64)> = None;
        for (index, value) in values.iter().enumerate() {
            let of_value: Vec<&Measurement> = runs
                .iter()
                .filter(|(i, _)| *i == index)
                .filter_map(|(_, results)| results.iter().find(|m| m.scenario == scenario))
                .collect();
            let cpu: Vec<f64> = of_value.iter().map(|m| m.server_cpu_us_per_op).collect();
            let p99: Vec<f64> = of_value.iter().map(|m| m.p99_ms).collect();
            let (cpu_median, p99_median) = (median(&cpu), median(&p99));
            let (cpu_base, p99_base) = *baseline.get_or_insert((cpu_median, p99_median));
            let list = |values: &[f64], digits: usize| {
                values
                    .iter()
                    .map(|v| format!("{v:.digits$}"))
                    .collect::<Vec<_>>()
                    .join(" / ")
            };
            println!(
                "| {scenario} | {value} | {} | {cpu_median:.0} | {:.2} | {} | {p99_median:.2} | {:.2} |",
                list(&cpu, 0),
                cpu_median / cpu_base,
                list(&p99, 2),
                p99_median / p99_base,
            );
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Options::command().debug_assert();
    }

    #[test]
    fn without_options_it_runs_every_scenario_on_sqlite_for_10_s_in_5_windows() {
        let options = Options::try_parse_from(["bench"]).expect("no options are valid");
        assert_eq!(options.database, "sqlite");
        assert_eq!(
            options.postgres_url,
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert!(options.scenarios.is_empty(), "empty means every scenario");
        assert_eq!(
            (
                options.seconds,
                options.windows,
                options.warmup,
                options.concurrency
            ),
            (10, 5, 2, 32)
        );
    }

    #[test]
    fn settings_are_passed_to_the_server_and_compared_by_value() {
        let options = Options::try_parse_from([
            "bench",
            "--server-env",
            "LOG_LEVEL=warn",
            "--compare",
            "SQLITE_SYNCHRONOUS=full,normal",
            "--rounds",
            "5",
        ])
        .expect("valid options");
        assert_eq!(options.server_env, [("LOG_LEVEL".into(), "warn".into())]);
        assert_eq!(
            options.compare,
            Some((
                "SQLITE_SYNCHRONOUS".into(),
                vec!["full".into(), "normal".into()]
            ))
        );
        assert_eq!(options.rounds, 5);
        for refused in [
            &["bench", "--compare", "SQLITE_SYNCHRONOUS=full"][..],
            &["bench", "--compare", "SQLITE_SYNCHRONOUS"],
            &["bench", "--server-env", "=x"],
            &["bench", "--rounds", "0"],
        ] {
            assert!(Options::try_parse_from(refused).is_err(), "{refused:?}");
        }
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn scenarios_repeat_and_unknown_names_databases_or_zero_windows_are_refused() {
        let options = Options::try_parse_from([
            "bench",
            "--scenario",
            "healthz",
            "--scenario",
            "refresh",
            "--database",
            "postgres",
        ])
        .expect("valid options");
        assert_eq!(options.scenarios, ["healthz", "refresh"]);
        assert_eq!(options.database, "postgres");
        for refused in [
            &["bench", "--scenario", "nope"][..],
            &["bench", "--database", "mysql"],
            &["bench", "--windows", "0"],
            &["bench", "--seconds", "ten"],
        ] {
            assert!(Options::try_parse_from(refused).is_err(), "{refused:?}");
        }
    }
}
