//! `POST /webhooks/stripe`: the raw body is verified against every configured signing
//! secret before anything is read from it; verified events are applied at most once.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::customers;
use crate::stripe::connect::{self, EventOutcome};
use crate::stripe::webhook::{self, Event};
use crate::web::AppState;

/// Largest event body accepted.
const BODY_LIMIT: usize = 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/stripe")
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route(web::post().to(stripe_webhook)),
    );
}

fn bad_request(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "error": message }))
}

async fn stripe_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(header) = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return bad_request("missing Stripe-Signature header");
    };
    let (secrets, livemode) = match state.stripe.credentials(&state.db, &state.secret_box).await {
        Ok(credentials) => (credentials.webhook_secrets.clone(), credentials.livemode()),
        Err(e) => {
            tracing::warn!(error = %e, "webhook received but Stripe is not configured");
            return bad_request("no webhook signing secret is configured");
        }
    };
    if let Err(e) = webhook::verify(
        &body,
        header,
        &secrets,
        state.stripe.webhook_tolerance_seconds(),
        state.now(),
    ) {
        tracing::warn!(reason = %e, "webhook signature rejected");
        webhook::count_received(webhook::UNVERIFIED_TYPE, "rejected");
        return bad_request(&e.to_string());
    }
    let event: Event = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(_) => return bad_request("the body is not a Stripe event"),
    };
    let (event_id, event_type) = (event.id.clone(), event.event_type.clone());
    // The customers cache applies customer events after they are recorded.
    let for_customers = match (&event.account, event_type.starts_with("customer.")) {
        (Some(account), true) => Some((account.clone(), event.created, event.data.object.clone())),
        _ => None,
    };
    match connect::process_event(&state.db, state.now(), livemode, event).await {
        Ok(mut outcome) => {
            if let (EventOutcome::Recorded, Some((account, created, object))) =
                (outcome, for_customers)
            {
                match customers::apply_webhook_event(
                    &state.db,
                    account,
                    event_type.clone(),
                    created,
                    object,
                )
                .await
                {
                    Ok(0) => {}
                    Ok(_) => outcome = EventOutcome::Applied,
                    Err(e) => {
                        // The event is recorded; Stripe does not redeliver it after a 200,
                        // and the next refresh from Stripe brings the copy up to date.
                        tracing::warn!(%event_id, error = %e, "customers cache not updated from webhook");
                    }
                }
            }
            tracing::info!(%event_id, %event_type, outcome = outcome.as_str(), "webhook processed");
            webhook::count_received(&event_type, outcome.as_str());
            HttpResponse::Ok().json(json!({"received": true, "outcome": outcome.as_str()}))
        }
        Err(e) => {
            // Stripe retries on anything but 2xx.
            tracing::error!(%event_id, %event_type, error = %e, "webhook processing failed");
            webhook::count_received(&event_type, "failed");
            HttpResponse::InternalServerError()
                .json(json!({"error": "processing failed; retry later"}))
        }
    }
}
