//! The account page: changing the password, who is logged in where, and ending
//! sessions.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::accounts::sessions::SessionUser;
use crate::accounts::{self, AccountError, NewPassword, PasswordChange};
use crate::clock::human;
use crate::db::types::SessionId;
use crate::web::error::PageError;
use crate::web::pages::{render, see_other, Layout};
use crate::web::session::{self, client_ip, CurrentSession, EmptyForm, VerifiedForm};
use crate::web::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(account_get)
        .service(password_post)
        .service(session_end)
        .service(other_sessions_end);
}

struct SessionRow {
    id: SessionId,
    current: bool,
    started: String,
    last_seen: String,
    ip: String,
    user_agent: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    sessions: Vec<SessionRow>,
    idle_hours: i64,
    lifetime_hours: i64,
    password_error: Option<String>,
}

#[get("/account/")]
async fn account_get(
    state: web::Data<AppState>,
    session: Session,
    CurrentSession(current): CurrentSession,
) -> Result<HttpResponse, PageError> {
    render(&account_page(&state, &session, current, None).await?)
}

async fn account_page(
    state: &AppState,
    session: &Session,
    current: SessionUser,
    password_error: Option<String>,
) -> Result<AccountPage, PageError> {
    let sessions = state
        .sessions
        .list(current.user.id)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            id: s.id,
            current: s.id == current.session_id,
            started: human(s.created_at),
            last_seen: human(s.last_seen_at),
            ip: s.ip.unwrap_or_default(),
            user_agent: s.user_agent.unwrap_or_default(),
        })
        .collect();
    let settings = state.sessions.settings();
    Ok(AccountPage {
        layout: Layout::new(state, session, Some(current.user), "account")?,
        sessions,
        idle_hours: settings.idle_seconds / 3600,
        lifetime_hours: settings.lifetime_seconds / 3600,
        password_error,
    })
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// Changes the password and ends every other session; a wrong current password or a
/// new one that breaks the rules shows the page again with the reason.
#[post("/account/password")]
async fn password_post(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    CurrentSession(current): CurrentSession,
    VerifiedForm(form): VerifiedForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let new_password = match NewPassword::parse(&form.new_password) {
        Ok(password) => password,
        Err(invalid) => {
            let reason = format!("New password: {}.", invalid.message);
            return refused(&state, &session, current, StatusCode::BAD_REQUEST, reason).await;
        }
    };
    let change = PasswordChange {
        user: &current.user,
        session: current.session_id,
        current_password: &form.current_password,
        new_password,
    };
    let outcome = accounts::change_password(
        &state.db,
        state.clock.as_ref(),
        &state.sessions,
        state.settings.login_throttle,
        change,
        client_ip(&req, &state.settings),
    )
    .await;
    match outcome {
        Ok(ended) => {
            let others = match ended {
                0 => String::new(),
                1 => " Your 1 other session was ended.".to_owned(),
                n => format!(" Your {n} other sessions were ended."),
            };
            session::flash(&session, "success", format!("Password changed.{others}"));
            Ok(see_other("/account/"))
        }
        Err(AccountError::WrongCredentials) => {
            let reason = "The current password is not right.".to_owned();
            refused(&state, &session, current, StatusCode::UNAUTHORIZED, reason).await
        }
        Err(other) => Err(other.into()),
    }
}

/// The account page again, with why the password was not changed.
async fn refused(
    state: &AppState,
    session: &Session,
    current: SessionUser,
    status: StatusCode,
    reason: String,
) -> Result<HttpResponse, PageError> {
    let page = account_page(state, session, current, Some(reason)).await?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

#[post("/account/sessions/{id}/end")]
async fn session_end(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<i64>,
    CurrentSession(current): CurrentSession,
    VerifiedForm(_): VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let id = SessionId(path.into_inner());
    if id == current.session_id {
        session::log_out(&session, &req, &state, &current.user).await?;
        return Ok(see_other("/login"));
    }
    let ip = client_ip(&req, &state.settings);
    if !state.sessions.end_one(&current.user, id, ip).await? {
        return Err(PageError::NotFound);
    }
    session::flash(&session, "success", "Session ended.");
    Ok(see_other("/account/"))
}

#[post("/account/sessions/end-others")]
async fn other_sessions_end(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    CurrentSession(current): CurrentSession,
    VerifiedForm(_): VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let ip = client_ip(&req, &state.settings);
    let ended = state
        .sessions
        .end_others(&current.user, current.session_id, ip)
        .await?;
    let text = match ended {
        0 => "There were no other sessions.".to_owned(),
        1 => "1 other session ended.".to_owned(),
        n => format!("{n} other sessions ended."),
    };
    session::flash(&session, "success", text);
    Ok(see_other("/account/"))
}
