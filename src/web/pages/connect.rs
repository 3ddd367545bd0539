//! The Connect tab: the business's Stripe connection, Connect/Reconnect/Disconnect, and
//! Stripe's redirect back (`/connect/stripe/callback`). Rules live in `stripe::connect`.

use crate::web::session::{flash, user_actor, CurrentUser, EmptyForm, VerifiedForm};
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use crate::clock::human;
use crate::crypto::random_token;
use crate::db::types::{ConnectionStatus, RevokedBy};
use crate::error::Chain;
use crate::stripe::connect::{Business, Callback, ConnectError, Disconnected};
use crate::stripe::form;
use crate::web::error::PageError;
use crate::web::pages::{see_other, Layout};
use crate::web::AppState;

/// Session key of the value that binds a `state` to this browser session.
const CONNECT_BINDING: &str = "stripe_connect_binding";
const TAB: &str = "/dashboard/connect/";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(connect_tab)
        .service(connect_start)
        .service(connect_disconnect)
        .service(connect_callback);
}

impl From<ConnectError> for PageError {
    #[track_caller]
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Db(e) => PageError::internal(e),
            ConnectError::Crypto(e) => PageError::internal(e),
            other => PageError::BadRequest(other.to_string()),
        }
    }
}

struct ConnectionView {
    account: String,
    connected: bool,
    livemode: bool,
    scope: String,
    connected_at: String,
    revoked_at: String,
    revoked_how: String,
}

#[derive(Template)]
#[template(path = "connect.html")]
struct ConnectPage {
    layout: Layout,
    connection: Option<ConnectionView>,
    sandbox_dashboard: Option<String>,
}

#[derive(Template)]
#[template(path = "connect_problem.html")]
struct ConnectProblemPage {
    layout: Layout,
    message: String,
}

fn revoked_how(by: Option<RevokedBy>) -> String {
    match by {
        Some(RevokedBy::Business) => "when you disconnected it here".into(),
        Some(RevokedBy::StripeAlreadyDisconnected) => {
            "when you disconnected it here (Stripe said it was already disconnected)".into()
        }
        Some(RevokedBy::StripeWebhook) => {
            "from Stripe (the account's owner removed this platform's access)".into()
        }
        None => String::new(),
    }
}

#[get("/dashboard/connect/")]
async fn connect_tab(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    let connection = state
        .connections
        .connection(user.0.id)
        .await?
        .map(|c| ConnectionView {
            connected: c.status == ConnectionStatus::Connected,
            connected_at: human(c.connected_at),
            revoked_at: c.revoked_at.map(human).unwrap_or_default(),
            revoked_how: revoked_how(c.revoked_by),
            account: c.stripe_user_id,
            livemode: c.livemode,
            scope: c.scope,
        });
    let page = ConnectPage {
        layout: Layout::new(&state, &session, Some(user.0), "connect")?,
        connection,
        sandbox_dashboard: state.sandbox_dashboard_url.clone(),
    };
    crate::web::pages::render(&page)
}

/// Connect with Stripe / Reconnect: a fresh single-use `state`, then off to Stripe.
#[post("/dashboard/connect/start")]
async fn connect_start(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    _form: VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let user = user.0;
    let binding = match session.get::<String>(CONNECT_BINDING).ok().flatten() {
        Some(binding) => binding,
        None => {
            let binding = random_token(32);
            session
                .insert(CONNECT_BINDING, &binding)
                .map_err(|e| PageError::internal(e))?;
            binding
        }
    };
    let business = Business {
        user_id: user.id,
        email: &user.email,
        name: &user.business_name,
    };
    match state.connections.begin(business, &binding).await {
        Ok(stripe_authorize_page) => Ok(see_other(stripe_authorize_page.as_str())),
        Err(e @ (ConnectError::AlreadyConnected | ConnectError::NotConfigured(_))) => {
            flash(&session, "error", e.to_string());
            Ok(see_other(TAB))
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/dashboard/connect/disconnect")]
async fn connect_disconnect(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    user: CurrentUser,
    _form: VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let user = user.0;
    let actor = user_actor(&user, &req, &state);
    match state.connections.disconnect(user.id, actor).await {
        Ok(Disconnected::Revoked) => flash(&session, "success", "Disconnected from Stripe."),
        Ok(Disconnected::AlreadyDisconnected) => flash(
            &session,
            "success",
            "Stripe said this account was already disconnected; it is now marked revoked here too.",
        ),
        Err(e @ ConnectError::NotConfigured(_)) => flash(&session, "error", e.to_string()),
        Err(ConnectError::Db(e)) => return Err(PageError::internal(e)),
        Err(e) => {
            // The page says what happened; the log has the cause with the transport's
            // own words.
            tracing::warn!(error = %Chain(&e), "disconnecting from Stripe failed");
            let message = match &e {
                ConnectError::Stripe(stripe) if stripe.is_network() => {
                    "Could not reach Stripe, so the account is still connected. Try again in a moment.".to_owned()
                }
                _ => format!("Stripe refused to disconnect the account; it is still connected. {e}"),
            };
            flash(&session, "error", message);
        }
    }
    Ok(see_other(TAB))
}

fn problem(
    state: &AppState,
    session: &Session,
    user: crate::accounts::User,
    message: String,
) -> Result<HttpResponse, PageError> {
    let page = ConnectProblemPage {
        layout: Layout::new(state, session, Some(user), "connect")?,
        message,
    };
    Ok(HttpResponse::build(StatusCode::BAD_REQUEST)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// Stripe's redirect back (the rules are `stripe::connect::Connections::complete`).
#[get("/connect/stripe/callback")]
async fn connect_callback(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    let user = user.0;
    let params = form::decode(req.query_string());
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let callback = Callback {
        state: param("state"),
        code: param("code"),
        error: param("error"),
        error_description: param("error_description"),
    };
    let binding = session.get::<String>(CONNECT_BINDING).ok().flatten();
    let actor = user_actor(&user, &req, &state);
    match state
        .connections
        .complete(user.id, binding.as_deref(), callback, actor)
        .await
    {
        Ok(connected) => {
            let reattached = match connected.reattached {
                0 => String::new(),
                1 => " 1 customer you recorded in it before is attached again.".to_owned(),
                n => format!(" {n} customers you recorded in it before are attached again."),
            };
            flash(
                &session,
                "success",
                format!(
                    "Connected to Stripe account {}.{reattached}",
                    connected.account
                ),
            );
            Ok(see_other(TAB))
        }
        Err(e @ ConnectError::Denied { .. }) => {
            flash(&session, "error", e.to_string());
            Ok(see_other(TAB))
        }
        Err(ConnectError::Db(e)) => Err(PageError::internal(e)),
        Err(ConnectError::Crypto(e)) => Err(PageError::internal(e)),
        Err(e) => {
            if matches!(e, ConnectError::ExchangeFailed(_) | ConnectError::Stripe(_)) {
                tracing::warn!(error = %Chain(&e), "completing the Stripe connection failed");
            }
            problem(&state, &session, user, e.to_string())
        }
    }
}
