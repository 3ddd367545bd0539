//! The command line: `serve` (the default), `migrate`, and account administration.
//!
//! The binary mounts one more subcommand from outside this crate, `stripe-emulator`
//! (the emulator's own arguments and entry point, see `src/main.rs`): this module knows
//! it only as a [`MountedCommand`].

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

mod oauth_commands;

use crate::accounts::{self, BusinessName, Email, NewAccount, NewPassword};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::error::Chain;
use crate::events::Actor;
use crate::startup::{self, Application};

/// Exit code for configuration a user must fix (bad variable, unreachable database).
pub const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(
    name = "bridgekeeper",
    version,
    about = "OAuth 2 authorization server with a Stripe Connect bridge"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage platform administrators.
    Admin {
        #[command(subcommand)]
        action: AccountAction,
    },
    /// Manage business accounts.
    User {
        #[command(subcommand)]
        action: AccountAction,
    },
    /// Manage OAuth clients.
    Client {
        #[command(subcommand)]
        action: oauth_commands::ClientAction,
    },
    /// Manage access-token signing keys.
    Keys {
        #[command(subcommand)]
        action: oauth_commands::KeysAction,
    },
    /// Print the OpenAPI document of the API and the OAuth endpoints (the one committed
    /// as docs/openapi.json), or write it to a file.
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum AccountAction {
    /// Create an account. The password is read from BRIDGEKEEPER_PASSWORD when set,
    /// otherwise prompted for (without echo).
    Create {
        #[arg(long)]
        email: String,
        /// The business's name (defaults to "Platform administration" for admins).
        #[arg(long)]
        business_name: Option<String>,
    },
}

pub const PASSWORD_ENV: &str = "BRIDGEKEEPER_PASSWORD";

/// A subcommand another crate defines (its name, help and arguments) and runs, mounted
/// beside this crate's own. It runs after `.env` is read and logging is set up, like
/// the others.
pub struct MountedCommand {
    pub command: clap::Command,
    pub run: fn(&ArgMatches) -> ExitCode,
}

/// What the command line asks for: one of this crate's commands, or the mounted one.
enum Invocation<'a> {
    Own(Command),
    Mounted(&'a ArgMatches),
}

/// Parses arguments and settings, runs the command, and maps failures to exit codes.
pub fn main(mounted: MountedCommand) -> ExitCode {
    let mounted_name = mounted.command.get_name().to_owned();
    let matches = Cli::command().subcommand(mounted.command).get_matches();
    let invocation = match matches.subcommand() {
        Some((name, args)) if name == mounted_name => Invocation::Mounted(args),
        _ => {
            let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
            Invocation::Own(cli.command.unwrap_or(Command::Serve))
        }
    };
    // The document needs no settings, database or key: it is the code's.
    if let Invocation::Own(Command::Openapi { output }) = &invocation {
        return openapi(output.as_deref());
    }
    // A missing .env is fine; a malformed one is worth saying.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("error: cannot read .env: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}\nSee docs/configuration.md for every variable.");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Kept to the end: dropping it sends the traces still buffered.
    let _tracing = match crate::telemetry::init(
        settings.log_format,
        &settings.log_filter,
        &settings.telemetry,
    ) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e}\nSee docs/configuration.md for every variable.");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let command = match invocation {
        Invocation::Mounted(args) => return (mounted.run)(args),
        Invocation::Own(command) => command,
    };
    match command {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::Admin { action } => create_account(settings, action, true),
        Command::User { action } => create_account(settings, action, false),
        Command::Client { action } => oauth_commands::client(settings, action),
        Command::Keys { action } => oauth_commands::keys(settings, action),
        Command::Openapi { output } => openapi(output.as_deref()),
    }
}

fn openapi(output: Option<&std::path::Path>) -> ExitCode {
    let json = crate::web::openapi::committed_json();
    let Some(path) = output else {
        print!("{json}");
        return ExitCode::SUCCESS;
    };
    match std::fs::write(path, json) {
        Ok(()) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> ExitCode {
    actix_web::rt::System::new().block_on(async move {
        let shutdown = match startup::shutdown_signal() {
            Ok(shutdown) => shutdown,
            Err(e) => {
                eprintln!("error: cannot listen for SIGTERM/SIGINT: {e}");
                return ExitCode::FAILURE;
            }
        };
        let backend = settings.database_url.backend_name();
        let app = match Application::build(settings).await {
            Ok(app) => app,
            Err(e) => return startup_failed(&e),
        };
        // After binding: the URL names the real port when BIND_ADDRESS asked for port 0.
        let public_url = app.state().settings.issuer();
        let has_admin = accounts::any_admin(&app.state().db).await.unwrap_or(true);
        println!("bridgekeeper is listening on {public_url} (database: {backend})");
        match (app.state().settings.telemetry.metrics_address, app.metrics_port()) {
            (Some(address), Some(port)) => {
                let bound = std::net::SocketAddr::new(address.ip(), port);
                println!("  metrics: http://{bound}/metrics");
            }
            _ => println!("  metrics: {public_url}/metrics"),
        }
        if app.state().sandbox {
            println!("Sandbox mode: no Stripe keys configured; Stripe is emulated locally.");
            if let Some(emulator) = app.stripe_emulator() {
                println!(
                    "  Stripe emulator: {} (merchant dashboard: {})",
                    emulator.base_url(),
                    emulator.dashboard_url()
                );
            }
        }
        if !has_admin {
            println!(
                "No admin yet. Create the first one with:\n  cargo run --release -- admin create --email you@example.com"
            );
        }
        match app.run_until(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: server stopped: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn startup_failed(e: &startup::StartupError) -> ExitCode {
    eprintln!("error: {}", Chain(e));
    match e {
        startup::StartupError::Database { .. } => eprintln!(
            "Check DATABASE_URL: sqlite://PATH for a file, or postgres://USER@HOST:PORT/DATABASE for a PostgreSQL server that is running and accepts this user."
        ),
        startup::StartupError::Bind { .. } => {
            eprintln!("Another process may use this address; set BIND_ADDRESS (or SANDBOX_STRIPE_ADDRESS for the sandbox Stripe emulator) to another port.")
        }
        _ => {}
    }
    ExitCode::from(EXIT_CONFIG)
}

fn migrate(settings: &Settings) -> ExitCode {
    match crate::db::run_migrations(&settings.database_url) {
        Ok(applied) if applied.is_empty() => {
            println!("database is up to date ({})", settings.database_url);
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            for version in applied {
                println!("applied {version}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", Chain(&e));
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn read_password() -> Result<String, String> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "no terminal to ask for a password; set {PASSWORD_ENV} to pass it from a script"
        ));
    }
    let first = rpassword::prompt_password("Password (at least 10 characters): ")
        .map_err(|e| e.to_string())?;
    let again = rpassword::prompt_password("Repeat password: ").map_err(|e| e.to_string())?;
    if first != again {
        return Err("the passwords do not match".into());
    }
    Ok(first)
}

fn create_account(settings: Settings, action: AccountAction, is_admin: bool) -> ExitCode {
    let AccountAction::Create {
        email,
        business_name,
    } = action;
    let business_name = business_name.unwrap_or_else(|| {
        if is_admin {
            "Platform administration".into()
        } else {
            String::new()
        }
    });
    let parsed = (|| {
        let email = Email::parse(&email).map_err(|e| e.to_string())?;
        let business_name = BusinessName::parse(&business_name)
            .map_err(|_| "--business-name is required for a business account".to_owned())?;
        let password = NewPassword::parse(&read_password()?).map_err(|e| e.to_string())?;
        Ok::<_, String>(NewAccount {
            email,
            password,
            business_name,
            is_admin,
        })
    })();
    let account = match parsed {
        Ok(account) => account,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    actix_web::rt::System::new().block_on(async move {
        let db = match tokio::task::spawn_blocking(move || startup::open_database(&settings)).await
        {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => return startup_failed(&e),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        match accounts::create_account(&db, &SystemClock, account, Actor::system("cli")).await {
            Ok(user) => {
                let role = if user.is_admin {
                    "admin"
                } else {
                    "business account"
                };
                println!("created {role} {} (id {})", user.email, user.id);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}", Chain(&e));
                ExitCode::from(EXIT_CONFIG)
            }
        }
    })
}
