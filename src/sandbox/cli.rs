//! `bridgekeeper stripe-emulator`: the emulator as a stand-alone process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use url::Url;

use super::{new_id, spawn, EmulatorConfig};
use crate::clock::SystemClock;

#[derive(clap::Args)]
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
                return ExitCode::from(crate::cli::EXIT_CONFIG);
            }
        };
        // Printed once for the operator to configure a client with; never logged.
        println!("Stripe emulator listening on {}", handle.base_url());
        println!("  API and Connect base URL: {}", handle.base_url());
        println!("  merchant dashboard:       {}", handle.dashboard_url());
        println!("  platform secret key:      {secret_key}");
        println!("  Connect client id:        {client_id}");
        println!("  webhook signing secret:   {webhook_secret}");
        match crate::startup::shutdown_signal() {
            Ok(shutdown) => {
                shutdown.await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
