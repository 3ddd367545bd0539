//! The OAuth tab: the business's clients (register, rotate secret, delete) and the
//! applications it has authorized (revoke).

use crate::web::session::{flash, user_actor, CurrentUser, EmptyForm, VerifiedForm};
use actix_session::Session;
use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use crate::accounts::User;
use crate::db::types::GrantId;
use crate::oauth::client::Client;
use crate::oauth::clients::{self, ClientError, FailedAuthentications};
use crate::oauth::consent::{self, AuthorizedApp};
use crate::oauth::registration::{self, ClientForm};
use crate::oauth::scope;
use crate::web::error::PageError;
use crate::web::pages::{see_other, Layout};
use crate::web::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(oauth_tab)
        .service(client_create)
        .service(client_show)
        .service(client_rotate_secret)
        .service(client_delete)
        .service(grant_revoke);
}

impl From<ClientError> for PageError {
    #[track_caller]
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::NotFound => PageError::NotFound,
            ClientError::Invalid(errors) => PageError::BadRequest(errors.join("; ")),
            ClientError::NoSecret => PageError::BadRequest(e.to_string()),
            ClientError::Db(e) => PageError::internal(e),
        }
    }
}

/// What the registration form shows again after a mistake.
#[derive(Default)]
struct FormValues {
    name: String,
    client_type: String,
    redirect_uris: String,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    cors_origins: String,
    issue_refresh_tokens: bool,
    always_ask_consent: bool,
}

impl FormValues {
    fn has_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Template)]
#[template(path = "oauth_tab.html")]
struct OAuthTabPage {
    layout: Layout,
    clients: Vec<Client>,
    apps: Vec<AuthorizedApp>,
    form: FormValues,
    errors: Vec<String>,
    supported_scopes: &'static [&'static str],
    issuer: String,
}

#[derive(Template)]
#[template(path = "oauth_client.html")]
struct ClientPage {
    layout: Layout,
    client: Client,
    issuer: String,
    failures: FailedAuthentications,
}

impl ClientPage {
    /// "15 minutes", "2 hours", "90 seconds".
    fn failure_window(&self) -> String {
        let seconds = self.failures.window_seconds;
        let (n, unit) = if seconds % 3600 == 0 {
            (seconds / 3600, "hour")
        } else if seconds % 60 == 0 {
            (seconds / 60, "minute")
        } else {
            (seconds, "second")
        };
        if n == 1 {
            unit.to_owned()
        } else {
            format!("{n} {unit}s")
        }
    }
}

#[derive(Template)]
#[template(path = "oauth_client_secret.html")]
struct SecretPage {
    layout: Layout,
    client: Client,
    secret: Option<String>,
    heading: &'static str,
}

async fn tab_page(
    state: &AppState,
    session: &Session,
    user: User,
    form: FormValues,
    errors: Vec<String>,
) -> Result<OAuthTabPage, PageError> {
    let clients = clients::list(&state.db, Some(user.id)).await?;
    let apps = consent::authorized_apps(&state.db, user.id).await?;
    Ok(OAuthTabPage {
        layout: Layout::new(state, session, Some(user), "oauth")?,
        clients,
        apps,
        form: FormValues {
            client_type: if form.client_type.is_empty() {
                "public".into()
            } else {
                form.client_type
            },
            ..form
        },
        errors,
        supported_scopes: scope::SUPPORTED,
        issuer: state.oauth.issuer.clone(),
    })
}

fn html(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

#[get("/dashboard/oauth/")]
async fn oauth_tab(
    state: web::Data<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> Result<HttpResponse, PageError> {
    let page = tab_page(&state, &session, user, FormValues::default(), Vec::new()).await?;
    Ok(html(actix_web::http::StatusCode::OK, page.render()?))
}

fn lines(raw: &str) -> Vec<String> {
    raw.split(['\n', '\r', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A secret (or a page that may show one): never cached (R31).
fn secret_response(page: &SecretPage) -> Result<HttpResponse, PageError> {
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .body(page.render()?))
}

#[post("/dashboard/oauth/clients/")]
async fn client_create(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    CurrentUser(user): CurrentUser,
    VerifiedForm(pairs): VerifiedForm<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let field = |name: &str| -> String {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let all = |name: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let values = FormValues {
        name: field("name"),
        client_type: field("client_type"),
        redirect_uris: field("redirect_uris"),
        grant_types: all("grant_types"),
        scopes: all("scopes"),
        cors_origins: field("cors_origins"),
        issue_refresh_tokens: !field("issue_refresh_tokens").is_empty(),
        always_ask_consent: !field("always_ask_consent").is_empty(),
    };
    let form = ClientForm {
        name: values.name.clone(),
        client_type: values.client_type.clone(),
        redirect_uris: lines(&values.redirect_uris),
        grant_types: values.grant_types.clone(),
        scopes: values.scopes.clone(),
        cors_origins: lines(&values.cors_origins),
        issue_refresh_tokens: values.issue_refresh_tokens,
        always_ask_consent: values.always_ask_consent,
    };
    let registration = match registration::validate(&form) {
        Ok(registration) => registration,
        Err(errors) => {
            let page = tab_page(&state, &session, user, values, errors).await?;
            return Ok(html(
                actix_web::http::StatusCode::BAD_REQUEST,
                page.render()?,
            ));
        }
    };
    let actor = user_actor(&user, &req, &state);
    let (client, secret) = clients::register(
        &state.db,
        &state.credential_hasher,
        &state.oauth.cors,
        user.id,
        registration,
        actor,
        state.now(),
    )
    .await?;
    secret_response(&SecretPage {
        layout: Layout::new(&state, &session, Some(user), "oauth")?,
        client,
        secret,
        heading: "Client registered",
    })
}

#[get("/dashboard/oauth/clients/{client_id}/")]
async fn client_show(
    state: web::Data<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (client, failures) = clients::find_owned_with_failures(
        &state.db,
        user.id,
        path.into_inner(),
        state.oauth.throttle_window_seconds,
        state.now(),
    )
    .await?;
    let page = ClientPage {
        layout: Layout::new(&state, &session, Some(user), "oauth")?,
        client,
        issuer: state.oauth.issuer.clone(),
        failures,
    };
    Ok(html(actix_web::http::StatusCode::OK, page.render()?))
}

#[post("/dashboard/oauth/clients/{client_id}/rotate-secret")]
async fn client_rotate_secret(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
    VerifiedForm(_): VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let actor = user_actor(&user, &req, &state);
    let (client, secret) = clients::rotate_secret(
        &state.db,
        &state.credential_hasher,
        Some(user.id),
        path.into_inner(),
        actor,
        state.now(),
    )
    .await?;
    secret_response(&SecretPage {
        layout: Layout::new(&state, &session, Some(user), "oauth")?,
        client,
        secret: Some(secret),
        heading: "New client secret",
    })
}

#[post("/dashboard/oauth/clients/{client_id}/delete")]
async fn client_delete(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
    VerifiedForm(_): VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let actor = user_actor(&user, &req, &state);
    let client = clients::delete(
        &state.db,
        &state.oauth.cors,
        Some(user.id),
        path.into_inner(),
        actor,
        state.now(),
    )
    .await?;
    flash(
        &session,
        "success",
        format!(
            "Deleted {}. Every grant and token issued to it was revoked.",
            client.name
        ),
    );
    Ok(see_other("/dashboard/oauth/"))
}

#[post("/dashboard/oauth/grants/{grant_id}/revoke")]
async fn grant_revoke(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    CurrentUser(user): CurrentUser,
    path: web::Path<GrantId>,
    VerifiedForm(_): VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let actor = user_actor(&user, &req, &state);
    let revoked = consent::revoke_grant(&state.db, user.id, path.into_inner(), actor, state.now())
        .await
        .map_err(|e| PageError::internal(e))?;
    if !revoked {
        return Err(PageError::NotFound);
    }
    flash(
        &session,
        "success",
        "Access revoked. The application's tokens stopped working immediately.",
    );
    Ok(see_other("/dashboard/oauth/"))
}
