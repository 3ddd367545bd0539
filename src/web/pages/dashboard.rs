//! The dashboard's root and its API tab. (The OAuth tab lives in `oauth_clients`, the
//! Connect tab in `connect`, the Customers tab in `customers`.)

use actix_session::Session;
use actix_web::{get, web, HttpResponse};
use askama::Template;

use crate::web::error::PageError;
use crate::web::openapi::{self, Endpoint};
use crate::web::pages::{render, see_other, Layout};
use crate::web::session::CurrentUser;
use crate::web::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(dashboard_root).service(api_tab);
}

#[get("/dashboard/")]
async fn dashboard_root(_user: CurrentUser) -> HttpResponse {
    see_other("/dashboard/oauth/")
}

/// The API tab: the browsable API's root, listing every endpoint of `/api/` from the
/// OpenAPI document.
#[derive(Template)]
#[template(path = "api_tab.html")]
struct ApiTabPage {
    layout: Layout,
    endpoints: Vec<Endpoint>,
}

#[get("/dashboard/api/")]
async fn api_tab(
    state: web::Data<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> Result<HttpResponse, PageError> {
    render(&ApiTabPage {
        layout: Layout::new(&state, &session, Some(user), "api")?,
        endpoints: openapi::endpoints("/api/"),
    })
}
