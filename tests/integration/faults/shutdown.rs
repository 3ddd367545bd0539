//! SIGTERM under load: the listener closes at once (new connections are refused), what
//! was accepted is finished (each answer on a kept-alive connection closes it), and the
//! process exits 0, within `SHUTDOWN_TIMEOUT_SECONDS` even if a request never ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Clients, ServerProcess};

/// A client-credentials request whose head and half its body were sent: the server has
/// accepted it and waits for the rest.
struct HalfSentRequest {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl HalfSentRequest {
    async fn open(server: &ServerProcess) -> HalfSentRequest {
        let address = server.base_url.trim_start_matches("http://").to_owned();
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        let body = b"grant_type=client_credentials&scope=customers%3Aread".to_vec();
        let credentials = STANDARD.encode(format!(
            "{}:{}",
            server.seed.backend_client_id, server.seed.backend_secret
        ));
        let head = format!(
            "POST /o/token/ HTTP/1.1\r\nHost: {address}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Authorization: Basic {credentials}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let half = body.len() / 2;
        stream.write_all(head.as_bytes()).await.expect("head");
        stream
            .write_all(&body[..half])
            .await
            .expect("half the body");
        stream.flush().await.expect("flush");
        HalfSentRequest {
            stream,
            rest: body[half..].to_vec(),
        }
    }

    /// Sends the rest of the body and reads the answer to its end.
    async fn finish(mut self) -> String {
        self.stream
            .write_all(&self.rest)
            .await
            .expect("the rest of the body");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(15),
            self.stream.read_to_end(&mut answer),
        )
        .await
        .expect("the answer within 15 s");
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// What a client hammering the token endpoint saw: answers by status, and whether it
/// stopped because a connection could not be made.
#[derive(Default, Debug)]
struct Seen {
    statuses: Vec<StatusCode>,
    failures: Vec<String>,
}

async fn hammer(clients: Clients, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    while !stop.load(Ordering::Relaxed) {
        match clients.client_credentials().await {
            Ok(answer) => seen.statuses.push(answer.status),
            Err(error) => {
                seen.failures.push(format!("{error:?}"));
                // The server is going away: later requests cannot connect.
                if error.is_connect() {
                    break;
                }
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_finishes_accepted_requests_refuses_new_connections_and_exits_0() {
    let mut server = ServerProcess::start(&[("SHUTDOWN_TIMEOUT_SECONDS", "10")]).await;
    let clients = Clients::prepare(&server).await;
    let mut accepted = Vec::new();
    for _ in 0..4 {
        accepted.push(HalfSentRequest::open(&server).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..6)
        .map(|_| tokio::spawn(hammer(clients.clone(), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;

    server.signal("TERM");
    let signalled = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let refused = TcpStream::connect(&address).await;
    assert!(
        matches!(&refused, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "a new connection after SIGTERM: {refused:?}"
    );

    // The requests accepted before the signal are answered in full.
    for request in accepted {
        let answer = request.finish().await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("\"access_token\""), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "an answer during the drain closes its connection: {answer}"
        );
    }

    let (status, _) = server
        .wait_for_exit(Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("still running 15 s after SIGTERM:\n{}", server.log()));
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    assert!(took < Duration::from_secs(12), "took {took:?} to exit");
    eprintln!("exited 0 {took:?} after SIGTERM");

    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for worker in load {
        let seen = worker.await.expect("load");
        assert!(
            seen.statuses.iter().all(|s| *s == StatusCode::OK),
            "every answer was a success: {seen:?}"
        );
        answered += seen.statuses.len();
    }
    assert!(answered > 20, "too little load: {answered} answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_that_never_finishes_does_not_keep_the_process_past_shutdown_timeout_seconds() {
    let mut server = ServerProcess::start(&[("SHUTDOWN_TIMEOUT_SECONDS", "2")]).await;
    let mut stalled = HalfSentRequest::open(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal("TERM");
    let signalled = Instant::now();
    let (status, _) = server
        .wait_for_exit(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", server.log()));
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "it waited for the request, but no longer than the timeout: {took:?}"
    );
    // The connection it gave up on is closed.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(2),
        stalled.stream.read_to_end(&mut rest),
    )
    .await;
    assert!(read.is_ok(), "the stalled connection was closed");
}
