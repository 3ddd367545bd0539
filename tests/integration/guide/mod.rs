//! docs/integration.md, run. Every fenced block tagged `file=NAME` belongs to a program;
//! these tests take the programs out of the guide and run them against the real server
//! (sandbox mode, the Stripe emulator over loopback), playing the person at the browser.
//! What the examples need (jq, oauth4webapi, Authlib) is installed by `scripts/test` at
//! the versions the guide names; a missing piece fails the test with the way to get it.

mod api_errors;
mod backend;
mod curl;
mod python;
mod register;
mod spa;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bridgekeeper::accounts::User;
use bridgekeeper::oauth::client::Client;
use bridgekeeper::oauth::registration::ClientForm;
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use url::Url;

pub use crate::customers::customer_named;
use crate::oauth::{decide, register};
use crate::support::{location, TestApp};

const GUIDE: &str = "docs/integration.md";

/// How long an example may take for one step (it talks to a local server only).
const STEP: Duration = Duration::from_secs(60);

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn guide_text() -> String {
    std::fs::read_to_string(repo_file(GUIDE)).expect("docs/integration.md is readable")
}

/// One fenced code block: its language, its `file=` tag, its text.
pub struct Block {
    pub language: String,
    pub file: Option<String>,
    pub text: String,
}

pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Block)> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match open.take() {
            None if trimmed.starts_with("```") => {
                let mut words = trimmed.trim_start_matches('`').split_whitespace();
                let language = words.next().unwrap_or("").to_owned();
                let file = words
                    .find_map(|w| w.strip_prefix("file="))
                    .map(str::to_owned);
                let text = String::new();
                open = Some((
                    indent,
                    Block {
                        language,
                        file,
                        text,
                    },
                ));
            }
            None => {}
            Some((_, block)) if trimmed.starts_with("```") => blocks.push(block),
            Some((indent, mut block)) => {
                block.text.push_str(line.get(indent..).unwrap_or(trimmed));
                block.text.push('\n');
                open = Some((indent, block));
            }
        }
    }
    assert!(open.is_none(), "{GUIDE}: a code block is never closed");
    blocks
}

/// The program `file` of the guide: its tagged blocks, joined in order.
pub fn program(file: &str) -> String {
    let text: String = blocks(&guide_text())
        .into_iter()
        .filter(|b| b.file.as_deref() == Some(file))
        .map(|b| b.text)
        .collect();
    assert!(!text.is_empty(), "{GUIDE} has no block tagged file={file}");
    text
}

/// The programs this module runs; a new one in the guide needs a test here.
const PROGRAMS: [&str; 7] = [
    "register.sh",
    "index.html",
    "config.mjs",
    "spa.mjs",
    "app.py",
    "pkce.sh",
    "backend.sh",
];

#[test]
fn every_program_in_the_guide_is_tagged_and_run_by_a_test() {
    let mut files: Vec<String> = Vec::new();
    for block in blocks(&guide_text()) {
        let is_code = matches!(
            block.language.as_str(),
            "js" | "mjs" | "javascript" | "html" | "python" | "py" | "sh" | "bash" | "shell"
        );
        match block.file {
            Some(file) if !files.contains(&file) => files.push(file),
            Some(_) => {}
            None => assert!(
                !is_code,
                "an untagged {} block in {GUIDE} would never run:\n{}",
                block.language, block.text
            ),
        }
    }
    files.sort();
    let mut expected: Vec<String> = PROGRAMS.iter().map(|f| (*f).to_owned()).collect();
    expected.sort();
    assert_eq!(files, expected);
}

/// The version the guide pins for `package` (written `package@1.2.3` or `Package==1.2.3`).
pub fn pinned_version(package: &str) -> String {
    let guide = guide_text();
    [format!("{package}@"), format!("{package}==")]
        .iter()
        .find_map(|prefix| {
            guide.find(prefix.as_str()).map(|at| {
                guide[at + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect::<String>()
            })
        })
        .unwrap_or_else(|| panic!("{GUIDE} pins no version of {package}"))
}

/// `name` on PATH, or a failure that says how to install it.
pub fn tool(name: &str, debian_package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is missing: the guide's examples need it. Install it with `apt-get install {debian_package}` (scripts/test does).")
        })
}

/// `~/.cache/bridgekeeper/…`, where scripts/test installs the examples' libraries.
fn cache_dir(variable: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    Path::new(&home).join(".cache/bridgekeeper").join(name)
}

/// A client registered for `owner` through the use case the OAuth tab and CLI call:
/// public, both customer scopes, refresh tokens.
pub async fn public_client(
    app: &TestApp,
    owner: &User,
    redirect_uri: &str,
    cors_origin: Option<&str>,
) -> Client {
    let form = ClientForm {
        name: "Acme billing".into(),
        client_type: "public".into(),
        redirect_uris: vec![redirect_uri.into()],
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["customers:read".into(), "customers:write".into()],
        cors_origins: cors_origin.map(str::to_owned).into_iter().collect(),
        issue_refresh_tokens: true,
        always_ask_consent: false,
    };
    register(app, owner, form).await.0
}

/// A business logged in on `app.client`, with a connected Stripe test account; returns
/// the business and the emulator's id of its seeded customer "Alice Active".
pub async fn business_with_stripe(app: &TestApp) -> (User, String, String) {
    let owner = app.logged_in_business("owner@acme.test").await;
    let account = app.connect_stripe(None).await;
    let alice = customer_named(app, &account, "Alice Active");
    (owner, account, alice)
}

/// The person at the browser (the logged-in `app.client`): opens the authorization URL
/// a program printed, allows access, and returns the address they are sent back to.
pub async fn person_allows(app: &TestApp, authorize_url: &str) -> String {
    let url = Url::parse(authorize_url).expect("the program printed a URL");
    assert_eq!(
        url.origin().ascii_serialization(),
        app.address,
        "the program sends the person to this bridgekeeper"
    );
    let response = app
        .client
        .get(url.as_str())
        .send()
        .await
        .expect("GET authorize");
    match response.status() {
        StatusCode::OK => {
            let params: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let approved = decide(app, &params, "approve").await;
            assert_eq!(approved.status(), StatusCode::SEE_OTHER, "consent given");
            location(&approved)
        }
        StatusCode::FOUND => location(&response),
        other => panic!(
            "authorize answered {other}: {}",
            response.text().await.unwrap_or_default()
        ),
    }
}

/// A running example: its output read line by line, its input writable.
pub struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    seen: String,
}

impl Running {
    pub fn start(mut command: Command) -> Running {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the example starts");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Running {
            child,
            stdout,
            seen: String::new(),
        }
    }

    /// Reads output until a line starts with `prefix`; returns that line.
    pub async fn line_starting_with(&mut self, prefix: &str) -> String {
        loop {
            let line = tokio::time::timeout(STEP, self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("no line starting with {prefix} in:\n{}", self.seen))
                .expect("read output");
            let Some(line) = line else {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr).await;
                }
                panic!(
                    "the example ended without printing {prefix}:\n{}\nstderr:\n{stderr}",
                    self.seen
                );
            };
            self.seen.push_str(&line);
            self.seen.push('\n');
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Types `line` at the example's prompt.
    pub async fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write input");
        stdin.flush().await.expect("flush input");
    }

    /// Waits for the end; returns all of its output, and fails when it did not succeed.
    pub async fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let mut rest = String::new();
        while let Some(line) = tokio::time::timeout(STEP, self.stdout.next_line())
            .await
            .expect("the example finishes")
            .expect("read output")
        {
            rest.push_str(&line);
            rest.push('\n');
        }
        let output = tokio::time::timeout(STEP, self.child.wait_with_output())
            .await
            .expect("the example exits")
            .expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let all = format!("{}{rest}", self.seen);
        assert!(
            output.status.success(),
            "the example failed ({}):\n{all}\nstderr:\n{stderr}",
            output.status
        );
        format!("{all}--- stderr ---\n{stderr}")
    }
}

/// `needle`s occur in `haystack` in this order.
pub fn assert_in_order(haystack: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        match haystack[from..].find(needle) {
            Some(at) => from += at + needle.len(),
            None => panic!("expected {needle:?} (after the previous ones) in:\n{haystack}"),
        }
    }
}
