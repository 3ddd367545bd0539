//! `GET /api/docs/`: the API reference, the OpenAPI document rendered by Swagger UI.
//!
//! Swagger UI is loaded from a CDN (pinned version, Subresource Integrity) rather than
//! shipped in the binary. This page alone loosens the content security policy, and only
//! by those two exact file URLs; it still runs no inline script (our start-up script is
//! a static file). Without the CDN (offline, or blocked) the page says so and links the
//! raw document.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;

use crate::web::error::PageError;
use crate::web::pages::Layout;
use crate::web::session::CurrentUser;
use crate::web::AppState;

pub const SWAGGER_UI_SCRIPT: &str =
    "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/swagger-ui-bundle.js";
const SWAGGER_UI_SCRIPT_SRI: &str =
    "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9";
pub const SWAGGER_UI_STYLESHEET: &str =
    "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/swagger-ui.css";
const SWAGGER_UI_STYLESHEET_SRI: &str =
    "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I";

/// The app's policy (see `web::middleware`) plus the two Swagger UI files.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'self'; script-src 'self' {SWAGGER_UI_SCRIPT}; \
         style-src 'self' {SWAGGER_UI_STYLESHEET}; img-src 'self' data:; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'"
    )
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct ApiDocsPage {
    layout: Layout,
    script: &'static str,
    script_integrity: &'static str,
    stylesheet: &'static str,
    stylesheet_integrity: &'static str,
}

/// Public, like the document itself; a logged-in business sees its dashboard tabs.
pub async fn docs_get(
    state: web::Data<AppState>,
    session: Session,
    user: Option<CurrentUser>,
) -> Result<HttpResponse, PageError> {
    let page = ApiDocsPage {
        layout: Layout::new(&state, &session, user.map(|u| u.0), "api")?,
        script: SWAGGER_UI_SCRIPT,
        script_integrity: SWAGGER_UI_SCRIPT_SRI,
        stylesheet: SWAGGER_UI_STYLESHEET,
        stylesheet_integrity: SWAGGER_UI_STYLESHEET_SRI,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_SECURITY_POLICY, content_security_policy()))
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}
