//! Load benchmark: drives a real bridgekeeper server over loopback and reports, per
//! scenario, operations per second, p50/p99 latency and the server's CPU time per
//! operation (busy time of the server process over the measured window divided by the
//! operations completed, so it stays valid when the load generator is the limit).
//!
//! The server is pinned to one core (`taskset -c 1`) and this load generator to the
//! other (core 0). Build first, then run:
//!
//! ```sh
//! cargo build --release --bins
//! target/release/bench --database sqlite            # or: --database postgres
//! target/release/bench --scenario healthz --seconds 5 --concurrency 32
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bridgekeeper::crypto::{random_token, MasterKey};

const USAGE: &str = "usage: bench [--database sqlite|postgres] [--postgres-url URL] \
[--scenario NAME]... [--seconds N] [--warmup N] [--concurrency N]";

struct Options {
    database: String,
    postgres_url: String,
    scenarios: Vec<String>,
    seconds: u64,
    warmup: u64,
    concurrency: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        database: "sqlite".into(),
        postgres_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
        scenarios: Vec::new(),
        seconds: 10,
        warmup: 2,
        concurrency: 32,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--database" => options.database = value()?,
            "--postgres-url" => options.postgres_url = value()?,
            "--scenario" => options.scenarios.push(value()?),
            "--seconds" => options.seconds = value()?.parse().map_err(|_| "--seconds: a number")?,
            "--warmup" => options.warmup = value()?.parse().map_err(|_| "--warmup: a number")?,
            "--concurrency" => {
                options.concurrency = value()?.parse().map_err(|_| "--concurrency: a number")?
            }
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if !matches!(options.database.as_str(), "sqlite" | "postgres") {
        return Err(format!("--database must be sqlite or postgres\n{USAGE}"));
    }
    if options.scenarios.is_empty() {
        options.scenarios = SCENARIOS.iter().map(|s| s.to_string()).collect();
    }
    for name in &options.scenarios {
        if !SCENARIOS.contains(&name.as_str()) {
            return Err(format!(
                "unknown scenario {name}; known: {}",
                SCENARIOS.join(", ")
            ));
        }
    }
    Ok(options)
}

/// Every scenario this binary knows, in the order they run by default.
const SCENARIOS: &[&str] = &["healthz", "login_page"];

/// The server under test, pinned to core 1.
struct Server {
    child: Child,
    base_url: String,
    _data_dir: tempfile::TempDir,
}

impl Server {
    fn start(binary: &Path, database_url: &str) -> Result<Server, String> {
        let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port()?;
        let mut command = Command::new("taskset");
        command
            .args(["-c", "1"])
            .arg(binary)
            .env("BIND_ADDRESS", format!("127.0.0.1:{port}"))
            .env("SANDBOX_STRIPE_ADDRESS", "127.0.0.1:0")
            .env("DATA_DIR", data_dir.path())
            .env("DATABASE_URL", database_url)
            .env("MASTER_KEY", MasterKey::generate().to_base64())
            .env("LOG_LEVEL", "error")
            .env("DATABASE_POOL_SIZE", "8")
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
        Ok(server)
    }

    fn wait_until_ready(&self) -> Result<(), String> {
        let address = self.base_url.trim_start_matches("http://").to_owned();
        for _ in 0..300 {
            if std::net::TcpStream::connect(&address).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("the server did not start listening within 15 s".into())
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

/// One worker's state for one scenario: it performs one operation per call.
#[derive(Clone)]
struct Worker {
    http: reqwest::Client,
    base_url: String,
    scenario: String,
}

impl Worker {
    /// Performs one operation and says whether it succeeded.
    async fn operate(&self) -> Result<(), String> {
        match self.scenario.as_str() {
            "healthz" => {
                expect_status(self.http.get(format!("{}/healthz", self.base_url)), 200).await
            }
            "login_page" => {
                expect_status(self.http.get(format!("{}/login", self.base_url)), 200).await
            }
            other => Err(format!("no operation for scenario {other}")),
        }
    }
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
    server_cpu_us_per_op: f64,
    resident_mib: Option<f64>,
}

async fn measure(
    server: &Server,
    scenario: &str,
    options: &Options,
) -> Result<Measurement, String> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let worker = Worker {
        http,
        base_url: server.base_url.clone(),
        scenario: scenario.to_owned(),
    };
    // Warm-up: connections, caches, the database's pages.
    run_load(
        &worker,
        options.concurrency,
        Duration::from_secs(options.warmup),
    )
    .await;
    let cpu_before = server.cpu_seconds()?;
    let started = Instant::now();
    let (mut latencies, errors) = run_load(
        &worker,
        options.concurrency,
        Duration::from_secs(options.seconds),
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds()? - cpu_before;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let operations = latencies.len();
    Ok(Measurement {
        scenario: scenario.to_owned(),
        operations,
        errors,
        seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        server_cpu_us_per_op: if operations == 0 {
            0.0
        } else {
            cpu * 1e6 / operations as f64
        },
        resident_mib: server.resident_mib(),
    })
}

/// Runs `concurrency` workers in a loop for `duration`; returns successful latencies (ms)
/// and the error count.
async fn run_load(worker: &Worker, concurrency: usize, duration: Duration) -> (Vec<f64>, usize) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let worker = worker.clone();
        tasks.push(tokio::task::spawn_local(async move {
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
            (latencies, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((latencies, task_errors, first_error)) = task.await {
            all.extend(latencies);
            errors += task_errors;
            if let Some(e) = first_error {
                eprintln!("  {}: error: {e}", worker.scenario);
            }
        }
    }
    (all, errors)
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
            "{} not found; build it first with `cargo build --release --bins`",
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
    let options = match parse_options() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
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
    let server = Server::start(&binary, &database_url)?;
    eprintln!(
        "bridgekeeper on {} ({}), {} clients, {} s per scenario after {} s warm-up",
        server.base_url, options.database, options.concurrency, options.seconds, options.warmup
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    let mut results = Vec::new();
    for scenario in &options.scenarios {
        eprintln!("running {scenario} …");
        let measurement = local.block_on(&runtime, measure(&server, scenario, &options))?;
        results.push(measurement);
    }
    println!(
        "| scenario ({}) | ops/s | p50 ms | p99 ms | server CPU µs/op | errors | RSS MiB |",
        options.database
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for m in results {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {} | {} |",
            m.scenario,
            m.operations as f64 / m.seconds,
            m.p50_ms,
            m.p99_ms,
            m.server_cpu_us_per_op,
            m.errors,
            m.resident_mib
                .map(|r| format!("{r:.1}"))
                .unwrap_or_else(|| "?".into()),
        );
    }
    Ok(())
}
