//! `POST /webhooks/stripe`: one call to [`crate::stripe::inbox::WebhookInbox::receive`],
//! answered 200 with the outcome, 400 for a delivery that is not Stripe's (bad or missing
//! signature, not an event), 500 when recording failed (Stripe retries).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::error::Chain;
use crate::stripe::inbox::WebhookError;
use crate::web::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/stripe")
            .app_data(web::PayloadConfig::new(
                crate::web::limits::WEBHOOK_BODY_LIMIT,
            ))
            .route(web::post().to(stripe_webhook)),
    );
}

async fn stripe_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    match state.webhooks.receive(signature, &body).await {
        Ok(received) => {
            let outcome = received.outcome.as_str();
            tracing::info!(event_id = %received.event_id, event_type = %received.event_type, outcome, "webhook processed");
            HttpResponse::Ok().json(json!({"received": true, "outcome": outcome}))
        }
        Err(e) if e.is_bad_delivery() => {
            match &e {
                WebhookError::Signature(_) => {
                    tracing::warn!(reason = %e, "webhook signature rejected")
                }
                WebhookError::NotConfigured(cause) => {
                    tracing::warn!(error = %Chain(cause), "webhook received but Stripe is not configured")
                }
                _ => tracing::warn!(reason = %e, "webhook refused"),
            }
            HttpResponse::BadRequest().json(json!({ "error": e.to_string() }))
        }
        Err(e) if crate::db::unavailable_in(&e) => {
            // Stripe retries on anything but 2xx; nothing was recorded.
            tracing::warn!(error = %Chain(&e), "webhook not processed: the database is unavailable");
            let retry_after = crate::db::UNAVAILABLE_RETRY_AFTER_SECONDS;
            HttpResponse::ServiceUnavailable()
                .insert_header((
                    actix_web::http::header::RETRY_AFTER,
                    retry_after.to_string(),
                ))
                .json(json!({"error": "temporarily unavailable; retry later"}))
        }
        Err(e) => {
            // Stripe retries on anything but 2xx.
            tracing::error!(error = %Chain(&e), "webhook processing failed");
            HttpResponse::InternalServerError()
                .json(json!({"error": "processing failed; retry later"}))
        }
    }
}
