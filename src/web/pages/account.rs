//! The account page: who is logged in where, and ending sessions.

use actix_session::Session;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use crate::clock::human;
use crate::db::types::SessionId;
use crate::web::error::PageError;
use crate::web::pages::{render, see_other, Layout};
use crate::web::session::{self, client_ip, CurrentSession, EmptyForm, VerifiedForm};
use crate::web::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(account_get)
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
}

#[get("/account/")]
async fn account_get(
    state: web::Data<AppState>,
    session: Session,
    CurrentSession(current): CurrentSession,
) -> Result<HttpResponse, PageError> {
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
    render(&AccountPage {
        layout: Layout::new(&state, &session, Some(current.user), "account")?,
        sessions,
        idle_hours: settings.idle_seconds / 3600,
        lifetime_hours: settings.lifetime_seconds / 3600,
    })
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
