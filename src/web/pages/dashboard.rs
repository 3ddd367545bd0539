//! The business dashboard's tabs. Each later feature fills its tab; until then a tab
//! says what will be there. (The OAuth tab lives in `oauth_clients`, the Connect tab
//! in `connect`, the Customers tab in `customers`.)

use actix_session::Session;
use actix_web::{get, web, HttpResponse};
use askama::Template;

use crate::web::error::PageError;
use crate::web::pages::{render, see_other, Layout};
use crate::web::session::CurrentUser;
use crate::web::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(dashboard_root).service(api_tab);
}

#[derive(Template)]
#[template(path = "dashboard_tab.html")]
struct DashboardTabPage {
    layout: Layout,
    heading: &'static str,
    empty_state: &'static str,
}

#[get("/dashboard/")]
async fn dashboard_root(_user: CurrentUser) -> HttpResponse {
    see_other("/dashboard/oauth/")
}

async fn tab(
    state: &AppState,
    session: &Session,
    user: CurrentUser,
    tab: &'static str,
    heading: &'static str,
    empty_state: &'static str,
) -> Result<HttpResponse, PageError> {
    render(&DashboardTabPage {
        layout: Layout::new(state, session, Some(user.0), tab)?,
        heading,
        empty_state,
    })
}

#[get("/dashboard/api/")]
async fn api_tab(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    tab(
        &state,
        &session,
        user,
        "api",
        "API",
        "The browsable API will be here: every endpoint under /api/ with its description, which you can try with your logged-in session.",
    )
    .await
}
