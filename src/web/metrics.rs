//! `GET /metrics`: the Prometheus text exposition of the process's metrics, on the
//! public listener or, with `METRICS_ADDRESS`, on a listener of its own; behind a
//! bearer token when `METRICS_BEARER_TOKEN` is set.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::crypto::constant_time_eq;
use crate::web::AppState;

/// The exposition format's media type (text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(metrics_get)));
}

async fn metrics_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(token) = &state.settings.telemetry.metrics_bearer_token {
        if !presents(&req, token.expose()) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
                .finish();
        }
    }
    state.db.record_gauges();
    let handle = crate::telemetry::metrics();
    // Fold the histogram samples recorded since the last upkeep into their buckets.
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(handle.render())
}

/// The request carries `Authorization: Bearer <token>`, compared in constant time.
fn presents(req: &HttpRequest, token: &str) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes()))
}
