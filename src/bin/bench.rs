//! Load benchmark for the OAuth endpoints: starts the real server (pinned to one core
//! with `taskset` when available), sets up a business, a public SPA and a confidential
//! back end through the command line, then drives four scenarios over loopback with
//! many concurrent clients and reports ops/s, p50/p99 latency, the server's CPU time
//! per operation and its resident memory. See `docs/performance.md`.
//!
//! ```text
//! cargo build --release --bins
//! taskset -c 0 target/release/bench [--seconds 10] [--concurrency 32] [--server-cpu 1]
//!                                    [--database-url postgres://postgres@127.0.0.1:5432/postgres]
//! ```

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use diesel::{Connection, RunQueryDsl};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PASSWORD: &str = "benchmark password 123";
const REDIRECT: &str = "https://app.bench/cb";

struct Options {
    seconds: u64,
    concurrency: usize,
    server_cpu: Option<String>,
    database_url: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        seconds: 10,
        concurrency: 32,
        server_cpu: Some("1".into()),
        database_url: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => o.seconds = value()?.parse().map_err(|_| "--seconds: a number")?,
            "--concurrency" => {
                o.concurrency = value()?.parse().map_err(|_| "--concurrency: a number")?
            }
            "--server-cpu" => {
                let v = value()?;
                o.server_cpu = (v != "none").then_some(v);
            }
            "--database-url" => o.database_url = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of a process (all its threads), in seconds (USER_HZ = 100).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After ")": index 0 is field 3 (state), so utime (field 14) is index 11.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn bin_dir() -> Result<PathBuf, String> {
    std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "no binary directory".to_owned())
}

fn env_for(database_url: &str, data_dir: &Path, master_key: &str) -> HashMap<String, String> {
    [
        ("DATABASE_URL", database_url.to_owned()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("MASTER_KEY", master_key.to_owned()),
        ("LOG_LEVEL", "error".to_owned()),
        ("BRIDGEKEEPER_PASSWORD", PASSWORD.to_owned()),
        ("SANDBOX_STRIPE_ADDRESS", "127.0.0.1:0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn cli(env: &HashMap<String, String>, args: &[&str]) -> Result<String, String> {
    let output = Command::new(bin_dir()?.join("bridgekeeper"))
        .args(args)
        .envs(env)
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "bridgekeeper {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn start_server(env: &HashMap<String, String>, cpu: Option<&str>) -> Result<Server, String> {
    let port = free_port()?;
    let binary = bin_dir()?.join("bridgekeeper");
    let mut command = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu).arg(&binary);
            c
        }
        None => Command::new(&binary),
    };
    command
        .arg("serve")
        .envs(env)
        .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    Ok(Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    })
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("bk_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

fn code_in(location: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
}

struct Fixture {
    base: String,
    http: reqwest::Client,
    cookie: String,
    spa_id: String,
    backend_basic: String,
}

fn pkce() -> (String, String) {
    let verifier = random_b64(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_url(f: &Fixture, challenge: &str) -> String {
    format!(
        "{}/o/authorize/?response_type=code&client_id={}&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&state=s&scope=customers%3Aread",
        f.base,
        f.spa_id,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    )
}

/// One PKCE flow with a logged-in session and remembered consent: authorize → token.
async fn pkce_flow(f: &Fixture) -> Result<serde_json::Value, String> {
    let (verifier, challenge) = pkce();
    let response = f
        .http
        .get(authorize_url(f, &challenge))
        .header(reqwest::header::COOKIE, &f.cookie)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(format!("authorize answered {}", response.status()))?
        .to_owned();
    let code = code_in(&location).ok_or("no code")?;
    post(
        f,
        "/o/token/",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &f.spa_id),
            ("code_verifier", &verifier),
        ],
        None,
    )
    .await
}

async fn post(
    f: &Fixture,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<&str>,
) -> Result<serde_json::Value, String> {
    let mut request = f.http.post(format!("{}{path}", f.base)).form(form);
    if let Some(basic) = basic {
        request = request.header(reqwest::header::AUTHORIZATION, basic);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{path}: {status} {body}"));
    }
    Ok(body)
}

async fn get_text(
    f: &reqwest::Client,
    url: String,
    cookie: Option<&str>,
) -> Result<(Option<String>, String), String> {
    let mut request = f.get(url);
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let cookie = session_cookie(&response);
    Ok((cookie, response.text().await.map_err(|e| e.to_string())?))
}

async fn setup(
    base: &str,
    env: &HashMap<String, String>,
    concurrency: usize,
) -> Result<Fixture, String> {
    cli(
        env,
        &[
            "user",
            "create",
            "--email",
            "bench@acme.test",
            "--business-name",
            "Bench",
        ],
    )?;
    let spa: serde_json::Value = serde_json::from_str(&cli(
        env,
        &[
            "client",
            "create",
            "--owner",
            "bench@acme.test",
            "--name",
            "Bench SPA",
            "--type",
            "public",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "customers:read",
            "--grant",
            "refresh_token",
        ],
    )?)
    .map_err(|e| e.to_string())?;
    let backend: serde_json::Value = serde_json::from_str(&cli(
        env,
        &[
            "client",
            "create",
            "--owner",
            "bench@acme.test",
            "--name",
            "Bench back end",
            "--type",
            "confidential",
            "--redirect-uri",
            "https://backend.bench/cb",
            "--scope",
            "customers:read",
            "--grant",
            "client_credentials",
        ],
    )?)
    .map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency * 2)
        .build()
        .map_err(|e| e.to_string())?;
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !up {
        return Err("the server did not come up".into());
    }
    // Log in: GET the form (session + CSRF), POST it.
    let (cookie, page) = get_text(&http, format!("{base}/login"), None).await?;
    let cookie = cookie.ok_or("no session cookie")?;
    let csrf = csrf_in(&page).ok_or("no CSRF field")?;
    let login = http
        .post(format!("{base}/login"))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[
            ("email", "bench@acme.test"),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie = session_cookie(&login).ok_or("login did not start a session")?;
    let spa_id = spa["client_id"].as_str().ok_or("spa id")?.to_owned();
    let backend_id = backend["client_id"].as_str().ok_or("backend id")?;
    let backend_secret = backend["client_secret"].as_str().ok_or("backend secret")?;
    let mut fixture = Fixture {
        base: base.to_owned(),
        http,
        cookie,
        spa_id,
        backend_basic: format!(
            "Basic {}",
            STANDARD.encode(format!("{backend_id}:{backend_secret}"))
        ),
    };
    // Consent once, so later flows skip it.
    let (_, challenge) = pkce();
    let (renewed, html) = get_text(
        &fixture.http,
        authorize_url(&fixture, &challenge),
        Some(&fixture.cookie),
    )
    .await?;
    let cookie = renewed.unwrap_or_else(|| fixture.cookie.clone());
    let csrf = csrf_in(&html).ok_or("no consent form")?;
    let approve = fixture
        .http
        .post(format!("{base}/o/authorize/"))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("response_type", "code"),
            ("client_id", &fixture.spa_id),
            ("redirect_uri", REDIRECT),
            ("scope", "customers:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("decision", "approve"),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if approve.status() != reqwest::StatusCode::SEE_OTHER {
        return Err(format!("consent answered {}", approve.status()));
    }
    fixture.cookie = session_cookie(&approve).unwrap_or(cookie);
    Ok(fixture)
}

struct Report {
    name: &'static str,
    ops: usize,
    errors: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_op: f64,
}

async fn one_op(name: &'static str, f: &Fixture, state: &mut String) -> Result<(), String> {
    match name {
        "pkce_flow" => pkce_flow(f).await.map(|_| ()),
        "client_credentials" => post(
            f,
            "/o/token/",
            &[("grant_type", "client_credentials")],
            Some(&f.backend_basic),
        )
        .await
        .map(|_| ()),
        "refresh" => {
            let body = post(
                f,
                "/o/token/",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", state.as_str()),
                    ("client_id", &f.spa_id),
                ],
                None,
            )
            .await?;
            *state = body["refresh_token"]
                .as_str()
                .ok_or("no refresh token")?
                .to_owned();
            Ok(())
        }
        _ => {
            let body = post(
                f,
                "/o/introspect/",
                &[("token", state.as_str())],
                Some(&f.backend_basic),
            )
            .await?;
            if body["active"] == true {
                Ok(())
            } else {
                Err("token inactive".into())
            }
        }
    }
}

async fn run_scenario(
    name: &'static str,
    fixture: &Arc<Fixture>,
    pid: u32,
    options: &Options,
) -> Result<Report, String> {
    // Per-client state: refresh chains and introspected tokens are each client's own.
    let mut states = Vec::new();
    for _ in 0..options.concurrency {
        let field = match name {
            "refresh" => "refresh_token",
            "introspection" => "access_token",
            _ => {
                states.push(String::new());
                continue;
            }
        };
        let tokens = pkce_flow(fixture).await?;
        states.push(tokens[field].as_str().ok_or("no token")?.to_owned());
    }
    let window = Duration::from_secs(options.seconds);
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut state in states {
        let f = fixture.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while started.elapsed() < window {
                let t = Instant::now();
                match one_op(name, &f, &mut state).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("{name}: {e}");
                        }
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    latencies.sort();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    let ops = latencies.len();
    Ok(Report {
        name,
        ops,
        errors,
        seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        cpu_us_per_op: if ops > 0 { cpu * 1e6 / ops as f64 } else { 0.0 },
    })
}

fn create_pg_database(admin_url: &str) -> Result<String, String> {
    let suffix: String = random_b64(6)
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { 'x' })
        .collect();
    let name = format!("bk_bench_{suffix}");
    let mut conn = diesel::PgConnection::establish(admin_url).map_err(|e| e.to_string())?;
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .map_err(|e| e.to_string())?;
    let mut url = url::Url::parse(admin_url).map_err(|e| e.to_string())?;
    url.set_path(&name);
    Ok(url.to_string())
}

/// Removes the database `create_pg_database` made (best effort).
fn drop_pg_database(admin_url: &str, database_url: &str) {
    let Some(name) = url::Url::parse(database_url)
        .ok()
        .map(|u| u.path().trim_start_matches('/').to_owned())
        .filter(|n| n.starts_with("bk_bench_"))
    else {
        return;
    };
    if let Ok(mut conn) = diesel::PgConnection::establish(admin_url) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn);
    }
}

fn main() -> std::process::ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&runtime, run(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    let data_dir = std::env::temp_dir().join(format!("bk-bench-{}", random_b64(6)));
    std::fs::create_dir_all(&data_dir).map_err(|e| e.to_string())?;
    let (database_url, backend) = match &options.database_url {
        Some(admin) if admin.starts_with("postgres") => (create_pg_database(admin)?, "postgres"),
        Some(other) => (other.clone(), "sqlite"),
        None => (
            format!("sqlite://{}", data_dir.join("bench.db").display()),
            "sqlite",
        ),
    };
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let env = env_for(&database_url, &data_dir, &STANDARD.encode(key));
    cli(&env, &["migrate"])?;
    let server = start_server(&env, options.server_cpu.as_deref())?;
    let pid = server.child.id();
    let fixture = Arc::new(setup(&server.base, &env, options.concurrency).await?);
    println!(
        "backend: {backend}; {} concurrent clients; {} s per scenario; server pinned to CPU {}",
        options.concurrency,
        options.seconds,
        options.server_cpu.as_deref().unwrap_or("(not pinned)")
    );
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>14} {:>7}",
        "scenario", "ops", "ops/s", "p50 ms", "p99 ms", "server µs/op", "errors"
    );
    for name in [
        "pkce_flow",
        "client_credentials",
        "refresh",
        "introspection",
    ] {
        let r = run_scenario(name, &fixture, pid, &options).await?;
        println!(
            "{:<20} {:>9} {:>9.0} {:>9.2} {:>9.2} {:>14.0} {:>7}",
            r.name,
            r.ops,
            r.ops as f64 / r.seconds,
            r.p50_ms,
            r.p99_ms,
            r.cpu_us_per_op,
            r.errors
        );
    }
    println!("server resident memory: {:.1} MiB", rss_mib(pid));
    drop(server);
    let _ = std::fs::remove_dir_all(&data_dir);
    if let Some(admin) = options
        .database_url
        .as_deref()
        .filter(|u| u.starts_with("postgres"))
    {
        drop_pg_database(admin, &database_url);
    }
    Ok(())
}
