//! `bridgekeeper stripe-emulator`: the emulator as a stand-alone process. The arguments
//! are this crate's; bridgekeeper's binary mounts them as its subcommand and calls
//! [`run`].

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, FromArgMatches};
use clock::SystemClock;
use url::Url;

use crate::{new_id, spawn, EmulatorConfig};

/// Exit code when the address is taken: 2, as bridgekeeper answers for configuration a
/// user must fix.
pub const EXIT_CANNOT_LISTEN: u8 = 2;

#[derive(Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8001")]
    bind: SocketAddr,
    /// Where to send signed webhooks (e.g. http://127.0.0.1:8000/webhooks/stripe).
    #[arg(long)]
    webhook_url: Option<Url>,
    /// The platform secret key to accept (generated when not given).
    #[arg(long, env = "SANDBOX_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// The Connect client id (generated when not given).
    #[arg(long, env = "SANDBOX_CONNECT_CLIENT_ID")]
    client_id: Option<String>,
    /// The webhook signing secret (generated when not given).
    #[arg(long, env = "SANDBOX_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
}

/// The `stripe-emulator` subcommand: its name, help and arguments.
pub fn command() -> clap::Command {
    EmulatorArgs::augment_args(
        clap::Command::new("stripe-emulator")
            .about("Run the sandbox Stripe emulator on its own (for benchmarks and manual tests)"),
    )
}

/// Runs the subcommand [`command`] parsed.
pub fn run_from(matches: &clap::ArgMatches) -> ExitCode {
    match EmulatorArgs::from_arg_matches(matches) {
        Ok(args) => run(args),
        Err(e) => e.exit(),
    }
}

/// Serves until SIGTERM or SIGINT; prints the credentials it accepts first.
pub fn run(args: EmulatorArgs) -> ExitCode {
    let secret_key = args.secret_key.unwrap_or_else(|| new_id("sk_test", 32));
    let client_id = args.client_id.unwrap_or_else(|| new_id("ca", 32));
    let webhook_secret = args.webhook_secret.unwrap_or_else(|| new_id("whsec", 32));
    actix_web::rt::System::new().block_on(async move {
        let handle = match spawn(EmulatorConfig {
            bind: args.bind,
            secret_key: secret_key.clone(),
            connect_client_id: client_id.clone(),
            webhook_secrets: vec![webhook_secret.clone()],
            webhook_url: args.webhook_url,
            redirect_uris: Vec::new(),
            clock: Arc::new(SystemClock),
        }) {
            Ok(handle) => handle,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.bind);
                return ExitCode::from(EXIT_CANNOT_LISTEN);
            }
        };
        // Printed once for the operator to configure a client with; never logged.
        println!("Stripe emulator listening on {}", handle.base_url());
        println!("  API and Connect base URL: {}", handle.base_url());
        println!("  merchant dashboard:       {}", handle.dashboard_url());
        println!("  platform secret key:      {secret_key}");
        println!("  Connect client id:        {client_id}");
        println!("  webhook signing secret:   {webhook_secret}");
        match until_terminated().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Completes at the first SIGTERM (what the benchmark sends) or SIGINT (Ctrl-C).
async fn until_terminated() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
