use actix_web::{get, web, HttpResponse};

use crate::error::Chain;
use crate::web::AppState;

/// The process is up.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The process can reach its database.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(error) => {
            tracing::warn!(error = %Chain(&error), "readiness check failed");
            let retry_after = crate::db::UNAVAILABLE_RETRY_AFTER_SECONDS;
            HttpResponse::ServiceUnavailable()
                .insert_header((
                    actix_web::http::header::RETRY_AFTER,
                    retry_after.to_string(),
                ))
                .json(
                    serde_json::json!({"status": "unavailable", "reason": "database unreachable"}),
                )
        }
    }
}
