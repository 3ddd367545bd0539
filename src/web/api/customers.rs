//! `/api/customers/`: a business's program records its Stripe customers and reads their
//! subscriptions and portal sessions. Thin handlers over [`crate::customers`].

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::customers::{
    CustomerDocument, CustomerError, ItemState, SubscriptionState, RETRY_AFTER_SECONDS,
};
use crate::events::Actor;
use crate::oauth::scope::{CUSTOMERS_READ, CUSTOMERS_WRITE};
use crate::web::session::client_ip;
use crate::web::AppState;

use super::{ApiError, BearerAuth};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/api/customers/", "/api/customers"])
            .route(web::get().to(customers_list))
            .route(web::post().to(customers_create)),
    )
    .service(
        web::resource([
            "/api/customers/{customer_id}/",
            "/api/customers/{customer_id}",
        ])
        .route(web::get().to(customer_get))
        .route(web::delete().to(customer_delete)),
    )
    .service(
        web::resource([
            "/api/customers/{customer_id}/portal_sessions/",
            "/api/customers/{customer_id}/portal_sessions",
        ])
        .route(web::post().to(portal_session_create)),
    );
}

/// The customer document, as the API writes it (times in RFC 3339 UTC).
#[derive(Debug, Serialize)]
pub struct CustomerJson {
    pub customer_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub livemode: bool,
    pub subscriptions: Vec<SubscriptionJson>,
    pub portal_url: Option<String>,
    pub fetched_at: String,
    pub stale: bool,
}

#[derive(Debug, Serialize)]
pub struct SubscriptionJson {
    pub id: String,
    pub status: String,
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<String>,
    pub canceled_at: Option<String>,
    pub trial_end: Option<String>,
    pub current_period_start: Option<String>,
    pub current_period_end: Option<String>,
    pub renews_at: Option<String>,
    pub items: Vec<ItemJson>,
}

#[derive(Debug, Serialize)]
pub struct ItemJson {
    pub price_id: String,
    pub product: String,
    pub product_name: Option<String>,
    pub nickname: Option<String>,
    pub unit_amount: Option<i64>,
    pub currency: String,
    pub interval: Option<String>,
    pub interval_count: Option<i64>,
    pub quantity: Option<i64>,
}

fn time(t: Option<i64>) -> Option<String> {
    t.map(rfc3339)
}

impl From<CustomerDocument> for CustomerJson {
    fn from(d: CustomerDocument) -> Self {
        Self {
            customer_id: d.customer_id,
            email: d.email,
            name: d.name,
            livemode: d.livemode,
            subscriptions: d
                .subscriptions
                .into_iter()
                .map(SubscriptionJson::from)
                .collect(),
            portal_url: d.portal_url,
            fetched_at: rfc3339(d.fetched_at),
            stale: d.stale,
        }
    }
}

impl From<SubscriptionState> for SubscriptionJson {
    fn from(s: SubscriptionState) -> Self {
        Self {
            id: s.id,
            status: s.status,
            cancel_at_period_end: s.cancel_at_period_end,
            cancel_at: time(s.cancel_at),
            canceled_at: time(s.canceled_at),
            trial_end: time(s.trial_end),
            current_period_start: time(s.current_period_start),
            current_period_end: time(s.current_period_end),
            renews_at: time(s.renews_at),
            items: s.items.into_iter().map(ItemJson::from).collect(),
        }
    }
}

impl From<ItemState> for ItemJson {
    fn from(i: ItemState) -> Self {
        Self {
            price_id: i.price_id,
            product: i.product,
            product_name: i.product_name,
            nickname: i.nickname,
            unit_amount: i.unit_amount,
            currency: i.currency,
            interval: i.interval,
            interval_count: i.interval_count,
            quantity: i.quantity,
        }
    }
}

impl From<CustomerError> for ApiError {
    fn from(e: CustomerError) -> Self {
        let message = e.to_string();
        let (status, code) = match &e {
            CustomerError::Invalid { field, message } => {
                return ApiError::BadRequest {
                    field,
                    message: message.clone(),
                }
            }
            CustomerError::NotConnected => (StatusCode::CONFLICT, "stripe_not_connected"),
            CustomerError::NotFound(_) => (StatusCode::NOT_FOUND, "customer_not_found"),
            CustomerError::NotRecorded(_) => (StatusCode::NOT_FOUND, "customer_not_recorded"),
            CustomerError::Deleted(_) => (StatusCode::GONE, "customer_deleted"),
            CustomerError::PortalNotConfigured(_) => {
                (StatusCode::CONFLICT, "portal_not_configured")
            }
            CustomerError::StripeUnavailable(_) => {
                return ApiError::Unavailable {
                    code: "stripe_unavailable",
                    message,
                    retry_after_seconds: RETRY_AFTER_SECONDS,
                }
            }
            CustomerError::StripeTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "stripe_timeout"),
            CustomerError::StripeFailed(_) => (StatusCode::BAD_GATEWAY, "stripe_error"),
            CustomerError::Db(e) => return ApiError::Internal(e.to_string()),
        };
        ApiError::Domain {
            status,
            code,
            message,
        }
    }
}

/// The body as a JSON object (an empty body is an empty object), allowing only `allowed`
/// fields, so that every 400 can name the field at fault.
fn json_object(
    body: &[u8],
    allowed: &[&'static str],
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    let object = match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(object)) => object,
        Ok(_) => return Err(bad_request("body", "send a JSON object")),
        Err(e) => {
            return Err(bad_request(
                "body",
                &format!("the body is not valid JSON: {e}"),
            ))
        }
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad_request(
            "body",
            &format!("unknown field {unknown:?}; allowed: {}", allowed.join(", ")),
        ));
    }
    Ok(object)
}

/// An optional string field of a JSON object.
fn string_field(
    object: &serde_json::Map<String, serde_json::Value>,
    field: &'static str,
) -> Result<Option<String>, ApiError> {
    match object.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(bad_request(field, "must be a string")),
    }
}

fn bad_request(field: &'static str, message: &str) -> ApiError {
    ApiError::BadRequest {
        field,
        message: message.to_owned(),
    }
}

async fn customers_create(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: BearerAuth,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    auth.require_scope(CUSTOMERS_WRITE)?;
    let input = json_object(&body, &["customer_id", "return_url"])?;
    let customer_id = string_field(&input, "customer_id")?
        .ok_or_else(|| bad_request("customer_id", "required: the Stripe customer id (cus_…)"))?;
    let return_url = string_field(&input, "return_url")?;
    let actor = Actor {
        user_id: Some(auth.0.business_user_id),
        label: Some(format!("client {}", auth.0.client_id)),
        ip: client_ip(&req, state.settings.trust_proxy_headers),
    };
    let (document, created) = state
        .customers
        .record(auth.0.business_user_id, &customer_id, return_url, actor)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(CustomerJson::from(document)))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<String>,
    starting_after: Option<String>,
}

#[derive(Serialize)]
struct CustomerListJson {
    data: Vec<CustomerJson>,
    has_more: bool,
}

async fn customers_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: BearerAuth,
) -> Result<HttpResponse, ApiError> {
    auth.require_scope(CUSTOMERS_READ)?;
    let query: ListQuery =
        serde_urlencoded::from_str(req.query_string()).map_err(|e| ApiError::BadRequest {
            field: "query",
            message: e.to_string(),
        })?;
    let limit = match query.limit.as_deref() {
        None | Some("") => 10,
        Some(raw) => raw.parse().map_err(|_| ApiError::BadRequest {
            field: "limit",
            message: "a number from 1 to 100".into(),
        })?,
    };
    let page = state
        .customers
        .list(
            auth.0.business_user_id,
            limit,
            query.starting_after.filter(|s| !s.is_empty()),
        )
        .await?;
    Ok(HttpResponse::Ok().json(CustomerListJson {
        data: page.customers.into_iter().map(CustomerJson::from).collect(),
        has_more: page.has_more,
    }))
}

async fn customer_get(
    state: web::Data<AppState>,
    auth: BearerAuth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require_scope(CUSTOMERS_READ)?;
    let document = state.customers.get(auth.0.business_user_id, &path).await?;
    Ok(HttpResponse::Ok().json(CustomerJson::from(document)))
}

async fn customer_delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    auth: BearerAuth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require_scope(CUSTOMERS_WRITE)?;
    let actor = Actor {
        user_id: Some(auth.0.business_user_id),
        label: Some(format!("client {}", auth.0.client_id)),
        ip: client_ip(&req, state.settings.trust_proxy_headers),
    };
    state
        .customers
        .forget(auth.0.business_user_id, &path, actor)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize)]
struct PortalSessionJson {
    url: String,
    created: String,
    return_url: Option<String>,
}

async fn portal_session_create(
    state: web::Data<AppState>,
    auth: BearerAuth,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    auth.require_scope(CUSTOMERS_WRITE)?;
    let input = json_object(&body, &["return_url"])?;
    let return_url = string_field(&input, "return_url")?;
    let session = state
        .customers
        .create_portal_session(auth.0.business_user_id, &path, return_url)
        .await?;
    Ok(HttpResponse::Created().json(PortalSessionJson {
        url: session.url,
        created: rfc3339(session.created),
        return_url: session.return_url,
    }))
}
