//! The Connect tab: the business's Stripe connection, Connect/Reconnect/Disconnect, and
//! Stripe's redirect back (`/connect/stripe/callback`). Rules live in `stripe::connect`.

use crate::web::session::{flash, user_actor, CurrentUser, EmptyForm, VerifiedForm};
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use crate::clock::human;
use crate::crypto::random_token;
use crate::db::stripe_connections::STATUS_CONNECTED;
use crate::stripe::connect::{self, ConnectError, Disconnected};
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

fn revoked_how(by: Option<&str>) -> String {
    match by {
        Some(connect::REVOKED_BY_BUSINESS) => "when you disconnected it here".into(),
        Some(connect::REVOKED_BY_STRIPE_ANSWER) => {
            "when you disconnected it here (Stripe said it was already disconnected)".into()
        }
        Some(connect::REVOKED_BY_WEBHOOK) => {
            "from Stripe (the account's owner removed this platform's access)".into()
        }
        Some(other) => format!("({other})"),
        None => String::new(),
    }
}

#[get("/dashboard/connect/")]
async fn connect_tab(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    let connection = connect::connection(&state.db, user.0.id)
        .await?
        .map(|c| ConnectionView {
            connected: c.status == STATUS_CONNECTED,
            connected_at: human(c.connected_at),
            revoked_at: c.revoked_at.map(human).unwrap_or_default(),
            revoked_how: revoked_how(c.revoked_by.as_deref()),
            account: c.stripe_user_id,
            livemode: c.livemode,
            scope: c.scope,
        });
    let page = ConnectPage {
        layout: Layout::new(&state, &session, Some(user.0), "connect")?,
        connection,
        sandbox_dashboard: state.stripe_emulator.as_ref().map(|e| e.dashboard_url()),
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
    let client = match state.stripe.client(&state.db, &state.secret_box).await {
        Ok(client) => client,
        Err(e) => {
            flash(&session, "error", e.to_string());
            return Ok(see_other(TAB));
        }
    };
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
    let oauth_state = match connect::begin(
        &state.db,
        &state.credential_hasher,
        state.now(),
        user.id,
        &binding,
    )
    .await
    {
        Ok(oauth_state) => oauth_state,
        Err(ConnectError::AlreadyConnected) => {
            flash(
                &session,
                "error",
                ConnectError::AlreadyConnected.to_string(),
            );
            return Ok(see_other(TAB));
        }
        Err(e) => return Err(e.into()),
    };
    let url = client.authorize_url(
        &connect::redirect_uri(&state.settings.issuer()),
        &oauth_state,
        &user.email,
        &user.business_name,
    );
    Ok(see_other(url.as_str()))
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
    let client = match state.stripe.client(&state.db, &state.secret_box).await {
        Ok(client) => client,
        Err(e) => {
            flash(&session, "error", e.to_string());
            return Ok(see_other(TAB));
        }
    };
    match connect::disconnect(&state.db, &client, state.now(), user.id, actor).await {
        Ok(Disconnected::Revoked) => flash(&session, "success", "Disconnected from Stripe."),
        Ok(Disconnected::AlreadyDisconnected) => flash(
            &session,
            "success",
            "Stripe said this account was already disconnected; it is now marked revoked here too.",
        ),
        Err(ConnectError::Stripe(e)) if e.is_network() => flash(
            &session,
            "error",
            format!("Could not reach Stripe, so the account is still connected. Try again in a moment. ({e})"),
        ),
        Err(ConnectError::Db(e)) => return Err(PageError::internal(e)),
        Err(e) => flash(&session, "error", format!("Stripe refused to disconnect the account; it is still connected. {e}")),
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

/// Stripe's redirect back. The `state` is checked (and used up) before anything else;
/// a code is exchanged exactly once.
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
    let binding = session.get::<String>(CONNECT_BINDING).ok().flatten();
    if let Err(e) = connect::take_state(
        &state.db,
        &state.credential_hasher,
        state.now(),
        user.id,
        param("state"),
        binding.as_deref(),
    )
    .await
    {
        return match e {
            ConnectError::Db(e) => Err(PageError::internal(e)),
            other => problem(&state, &session, user, other.to_string()),
        };
    }
    if let Some(error) = param("error") {
        let description = param("error_description").unwrap_or(error);
        flash(
            &session,
            "error",
            format!("Stripe did not connect your account: {description}"),
        );
        return Ok(see_other(TAB));
    }
    let Some(code) = param("code").filter(|c| !c.is_empty()) else {
        return problem(
            &state,
            &session,
            user,
            "Stripe's answer carried neither a code nor an error. Start again with Connect with Stripe.".into(),
        );
    };
    let client = match state.stripe.client(&state.db, &state.secret_box).await {
        Ok(client) => client,
        Err(e) => return problem(&state, &session, user, e.to_string()),
    };
    let token = match client.exchange_code(code).await {
        Ok(token) => token,
        Err(e) => {
            let message = format!("Stripe did not complete the connection: {e}. Start again with Connect with Stripe.");
            return problem(&state, &session, user, message);
        }
    };
    let account = token.stripe_user_id.clone();
    let actor = user_actor(&user, &req, &state);
    match connect::store_connection(
        &state.db,
        &state.secret_box,
        state.now(),
        user.id,
        token,
        actor,
    )
    .await
    {
        Ok(()) => {
            flash(
                &session,
                "success",
                format!("Connected to Stripe account {account}."),
            );
            Ok(see_other(TAB))
        }
        Err(ConnectError::Db(e)) => Err(PageError::internal(e)),
        Err(ConnectError::Crypto(e)) => Err(PageError::internal(e)),
        Err(e) => problem(&state, &session, user, e.to_string()),
    }
}
