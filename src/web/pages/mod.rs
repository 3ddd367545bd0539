//! Server-rendered pages for people.

mod account;
mod admin;
mod auth;
mod connect;
mod customers;
mod dashboard;
mod oauth_clients;

use actix_session::Session;
use actix_web::{get, http::header, web, HttpResponse};
use askama::Template;

use crate::accounts::User;
use crate::web::error::PageError;
use crate::web::session::{csrf_token, take_flashes, Flash};
use crate::web::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    auth::configure(cfg);
    account::configure(cfg);
    dashboard::configure(cfg);
    connect::configure(cfg);
    customers::configure(cfg);
    oauth_clients::configure(cfg);
    admin::configure(cfg);
}

/// What the base layout needs on every page.
pub struct Layout {
    pub user: Option<User>,
    pub tab: &'static str,
    pub csrf_token: String,
    pub flashes: Vec<Flash>,
    pub sandbox: bool,
}

impl Layout {
    /// For pages of the dashboard or the login flow.
    pub fn new(
        state: &AppState,
        session: &Session,
        user: Option<User>,
        tab: &'static str,
    ) -> Result<Self, PageError> {
        Ok(Self {
            user,
            tab,
            csrf_token: csrf_token(session)?,
            flashes: take_flashes(session),
            sandbox: state.sandbox,
        })
    }

    /// For error pages, which must render even when the session cannot be read.
    pub fn bare() -> Self {
        Self {
            user: None,
            tab: "",
            csrf_token: String::new(),
            flashes: Vec::new(),
            sandbox: false,
        }
    }
}

/// Renders a template as an HTML response.
pub fn render(template: &impl Template) -> Result<HttpResponse, PageError> {
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(template.render()?))
}

/// The 303 a form POST answers with (never 307, which would repeat the POST).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A file compiled into the binary, cacheable for an hour.
fn static_file(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

#[get("/static/app.css")]
pub async fn static_css() -> HttpResponse {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../../../static/app.css"),
    )
}

/// The API reference's start-up script (see `web::api::docs`).
#[get("/static/api-docs.js")]
pub async fn static_api_docs_js() -> HttpResponse {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../../static/api-docs.js"),
    )
}
