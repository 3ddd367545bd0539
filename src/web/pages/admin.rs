//! The admin area: businesses, the platform's Stripe settings and the audit log.

use crate::web::session::{self, user_actor, AdminUser, EmptyForm, VerifiedForm};
use actix_session::Session;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::accounts;
use crate::audit;
use crate::clock::human;
use crate::db::types::UserId;
use crate::stripe::platform_settings::{self, SettingsError, SettingsForm};
use crate::web::error::PageError;
use crate::web::pages::{render, see_other, Layout};
use crate::web::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(admin_overview)
        .service(stripe_settings_get)
        .service(stripe_settings_post)
        .service(webhook_secret_delete)
        .service(audit_log)
        .service(user_sessions_end);
}

struct UserRow {
    id: UserId,
    business_name: String,
    email: String,
    is_admin: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "admin_overview.html")]
struct AdminOverviewPage {
    layout: Layout,
    users: Vec<UserRow>,
}

#[get("/admin/")]
async fn admin_overview(
    state: web::Data<AppState>,
    session: Session,
    AdminUser(admin): AdminUser,
) -> Result<HttpResponse, PageError> {
    let users = accounts::list_users(&state.db, 500)
        .await?
        .into_iter()
        .map(|u| UserRow {
            id: u.id,
            created: human(u.created_at),
            business_name: u.business_name,
            email: u.email,
            is_admin: u.is_admin,
        })
        .collect();
    render(&AdminOverviewPage {
        layout: Layout::new(&state, &session, Some(admin), "admin")?,
        users,
    })
}

#[derive(Template)]
#[template(path = "admin_stripe.html")]
struct StripeSettingsPage {
    layout: Layout,
    errors: Vec<String>,
    secret_key_hint: Option<String>,
    publishable_key: String,
    connect_client_id: String,
    mode: Option<&'static str>,
    updated_at: Option<String>,
    webhook_secrets: Vec<(i64, String)>,
}

async fn stripe_settings_page(
    state: &AppState,
    session: &Session,
    admin: accounts::User,
    errors: Vec<String>,
    submitted: Option<&SettingsForm>,
) -> Result<StripeSettingsPage, PageError> {
    let stored = platform_settings::masked(&state.db).await?;
    Ok(StripeSettingsPage {
        layout: Layout::new(state, session, Some(admin), "admin")?,
        errors,
        secret_key_hint: stored.secret_key_hint,
        publishable_key: submitted
            .map(|f| f.publishable_key.clone())
            .unwrap_or(stored.publishable_key),
        connect_client_id: submitted
            .map(|f| f.connect_client_id.clone())
            .unwrap_or(stored.connect_client_id),
        mode: stored
            .livemode
            .map(|live| if live { "live" } else { "test" }),
        updated_at: stored.updated_at.map(human),
        webhook_secrets: stored.webhook_secrets,
    })
}

#[get("/admin/stripe/")]
async fn stripe_settings_get(
    state: web::Data<AppState>,
    session: Session,
    AdminUser(admin): AdminUser,
) -> Result<HttpResponse, PageError> {
    render(&stripe_settings_page(&state, &session, admin, Vec::new(), None).await?)
}

#[derive(Deserialize)]
struct StripeSettingsForm {
    #[serde(default)]
    secret_key: String,
    #[serde(default)]
    publishable_key: String,
    #[serde(default)]
    connect_client_id: String,
    #[serde(default)]
    new_webhook_secret: String,
}

#[post("/admin/stripe/")]
async fn stripe_settings_post(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    AdminUser(admin): AdminUser,
    VerifiedForm(form): VerifiedForm<StripeSettingsForm>,
) -> Result<HttpResponse, PageError> {
    let form = SettingsForm {
        secret_key: form.secret_key,
        publishable_key: form.publishable_key,
        connect_client_id: form.connect_client_id,
        new_webhook_secret: form.new_webhook_secret,
    };
    let actor = user_actor(&admin, &req, &state);
    match platform_settings::save(
        &state.db,
        &state.secret_box,
        state.now(),
        form.clone(),
        actor,
    )
    .await
    {
        Ok(()) => {
            session::flash(
                &session,
                "success",
                "Stripe settings saved. Restart the service to leave sandbox mode if it was in it.",
            );
            Ok(see_other("/admin/stripe/"))
        }
        Err(SettingsError::Invalid(invalid)) => {
            let page =
                stripe_settings_page(&state, &session, admin, vec![invalid.message], Some(&form))
                    .await?;
            Ok(HttpResponse::BadRequest()
                .content_type("text/html; charset=utf-8")
                .body(page.render()?))
        }
        Err(other) => Err(other.into()),
    }
}

#[post("/admin/stripe/webhook-secrets/{id}/delete")]
async fn webhook_secret_delete(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<i64>,
    AdminUser(admin): AdminUser,
    VerifiedForm(_): VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let actor = user_actor(&admin, &req, &state);
    if platform_settings::remove_webhook_secret(&state.db, state.now(), path.into_inner(), actor)
        .await?
    {
        session::flash(&session, "success", "Webhook signing secret removed.");
        Ok(see_other("/admin/stripe/"))
    } else {
        Err(PageError::NotFound)
    }
}

struct AuditRow {
    when: String,
    who: String,
    ip: String,
    action: String,
    detail: String,
    repeats: i64,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditLogPage {
    layout: Layout,
    events: Vec<AuditRow>,
    older_than: Option<i64>,
}

#[derive(Deserialize)]
struct AuditQuery {
    before: Option<i64>,
}

#[get("/admin/audit/")]
async fn audit_log(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<AuditQuery>,
    AdminUser(admin): AdminUser,
) -> Result<HttpResponse, PageError> {
    const PAGE: i64 = 100;
    let events = audit::recent(&state.db, query.before, PAGE).await?;
    let older_than = (events.len() as i64 == PAGE)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    let events = events
        .into_iter()
        .map(|e| AuditRow {
            when: human(e.occurred_at),
            who: e.actor_label.unwrap_or_else(|| "anonymous".into()),
            ip: e.ip.unwrap_or_default(),
            action: e.action,
            detail: e.detail,
            repeats: e.repeats,
        })
        .collect();
    render(&AuditLogPage {
        layout: Layout::new(&state, &session, Some(admin), "admin")?,
        events,
        older_than,
    })
}

/// Ends every session of one business's account (a lost laptop, a departed employee).
#[post("/admin/users/{id}/end-sessions")]
async fn user_sessions_end(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<i64>,
    AdminUser(admin): AdminUser,
    VerifiedForm(_): VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let target = UserId(path.into_inner());
    let Some(user) = accounts::find_user(&state.db, target).await? else {
        return Err(PageError::NotFound);
    };
    let actor = user_actor(&admin, &req, &state);
    let ended = state.sessions.end_all(target, actor).await?;
    let text = match ended {
        1 => format!("1 session of {} ended.", user.email),
        n => format!("{n} sessions of {} ended.", user.email),
    };
    session::flash(&session, "success", text);
    if target == admin.id {
        // The admin ended their own session too.
        return Ok(see_other("/login"));
    }
    Ok(see_other("/admin/"))
}
