//! `/api/customers/`: a business's program records its Stripe customers and reads their
//! subscriptions and portal sessions. Thin handlers over [`crate::customers`]; the
//! request and response types here are the ones the OpenAPI document describes.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::clock::rfc3339;
use crate::customers::{
    CustomerDocument, CustomerError, ItemState, SubscriptionState, RETRY_AFTER_SECONDS,
};
use crate::error::Chain;
use crate::oauth::scope::{CUSTOMERS_READ, CUSTOMERS_WRITE};
use crate::web::AppState;

use super::auth::Caller;
use super::error::ApiError;
use super::input::{query, JsonBody};
use super::resource;
use super::schema::{AuthErrors, BadRequest, BodyErrors, NotFound, StripeErrors};
use crate::web::with_and_without_slash;

pub fn configure(cfg: &mut web::ServiceConfig) {
    with_and_without_slash(cfg, "/customers/", |path| {
        resource(path, "GET, POST")
            .route(web::get().to(customers_list))
            .route(web::post().to(customers_create))
    });
    with_and_without_slash(cfg, "/customers/{customer_id}/", |path| {
        resource(path, "GET, DELETE")
            .route(web::get().to(customer_get))
            .route(web::delete().to(customer_delete))
    });
    with_and_without_slash(cfg, "/customers/{customer_id}/portal_sessions/", |path| {
        resource(path, "POST").route(web::post().to(portal_session_create))
    });
}

/// A customer and its subscriptions, as bridgekeeper last read them from Stripe.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Customer)]
pub struct CustomerJson {
    /// Stripe's id of the customer.
    #[schema(example = "cus_NffrFeUfNV2Hib")]
    pub customer_id: String,
    /// As Stripe has it (null when unset).
    pub email: Option<String>,
    /// As Stripe has it (null when unset).
    pub name: Option<String>,
    /// False for test-mode data.
    pub livemode: bool,
    /// Every subscription of the customer, of every status.
    pub subscriptions: Vec<SubscriptionJson>,
    /// Only on `POST /api/customers/`: a customer-portal session created for this
    /// answer. Short-lived: use it at once, never store it.
    #[schema(format = Uri)]
    pub portal_url: Option<String>,
    /// When the whole copy was last read from Stripe. Stripe's webhooks update it in
    /// between, so it can be older than the data.
    #[schema(format = DateTime)]
    pub fetched_at: String,
    /// True when the data may be out of date (it is the last known state): the copy is
    /// due for a refresh (older than `CUSTOMERS_REFRESH_AFTER_SECONDS`, or read before
    /// the business's current Stripe connection was made) and, on a single read,
    /// Stripe could not be reached to refresh it (the list never calls Stripe); always
    /// when `detached`.
    pub stale: bool,
    /// True when the Stripe connection the customer was recorded under has ended (the
    /// business disconnected, the account's owner removed the platform, or the business
    /// connected another account): bridgekeeper no longer reads it from Stripe or
    /// applies Stripe's webhooks to it, `GET /api/customers/{customer_id}/` and portal
    /// sessions answer 409 `customer_detached`, and the data here is as it was when the
    /// connection ended. Reconnecting the same Stripe account attaches it again;
    /// `DELETE` forgets it. Only `GET /api/customers/` lists detached customers.
    pub detached: bool,
}

/// One subscription of a customer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Subscription)]
pub struct SubscriptionJson {
    /// Stripe's id of the subscription.
    #[schema(example = "sub_1MowQVLkdIwHu7ixeRlqHVzs")]
    pub id: String,
    /// Stripe's status: `trialing`, `active`, `past_due`, `unpaid`, `canceled`,
    /// `incomplete`, `incomplete_expired` or `paused`.
    #[schema(example = "active")]
    pub status: String,
    /// The subscription ends at the end of the current period.
    pub cancel_at_period_end: bool,
    /// A scheduled cancellation time, or null.
    #[schema(format = DateTime)]
    pub cancel_at: Option<String>,
    /// When cancellation was requested, or null.
    #[schema(format = DateTime)]
    pub canceled_at: Option<String>,
    /// The end of the trial, or null.
    #[schema(format = DateTime)]
    pub trial_end: Option<String>,
    /// The start of the current billing period.
    #[schema(format = DateTime)]
    pub current_period_start: Option<String>,
    /// The end of the current billing period.
    #[schema(format = DateTime)]
    pub current_period_end: Option<String>,
    /// When the customer is next charged: the end of the current period (the trial's
    /// end while trialing); null when it will not renew (canceled, ending at period
    /// end, or cancelled before then).
    #[schema(format = DateTime)]
    pub renews_at: Option<String>,
    /// One per price.
    pub items: Vec<ItemJson>,
}

/// One price of a subscription.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SubscriptionItem)]
pub struct ItemJson {
    /// Stripe's id of the price (`price_…`).
    pub price_id: String,
    /// Stripe's id of the product (`prod_…`).
    pub product: String,
    /// The product's name, when known.
    pub product_name: Option<String>,
    /// The price's nickname.
    pub nickname: Option<String>,
    /// The price in the currency's smallest unit (e.g. cents).
    pub unit_amount: Option<i64>,
    /// Three-letter ISO currency code, lower case.
    #[schema(example = "usd")]
    pub currency: String,
    /// The billing interval: `day`, `week`, `month` or `year` (null for one-off prices).
    pub interval: Option<String>,
    /// How many intervals make one billing period.
    pub interval_count: Option<i64>,
    /// How many units the customer subscribes to.
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
            detached: d.detached,
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
    #[track_caller]
    fn from(e: CustomerError) -> Self {
        if matches!(
            e,
            CustomerError::StripeUnavailable(_)
                | CustomerError::StripeTimeout(_)
                | CustomerError::StripeFailed(_)
        ) {
            // The answer says what happened in the business's terms; the log line has
            // the cause, with the transport's own words (resolver, socket, address).
            tracing::warn!(error = %Chain(&e), "a Stripe call for the API failed");
        }
        let message = e.to_string();
        let (status, code) = match e {
            CustomerError::Invalid { field, message } => {
                return ApiError::bad_request(field, message)
            }
            CustomerError::NotConnected => (StatusCode::CONFLICT, "stripe_not_connected"),
            CustomerError::NotFound(_) => (StatusCode::NOT_FOUND, "customer_not_found"),
            CustomerError::NotRecorded(_) => (StatusCode::NOT_FOUND, "customer_not_recorded"),
            CustomerError::Deleted(_) => (StatusCode::GONE, "customer_deleted"),
            CustomerError::Detached { .. } => (StatusCode::CONFLICT, "customer_detached"),
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
            CustomerError::Db(e) => return ApiError::internal(e),
        };
        ApiError::Domain {
            status,
            code,
            message,
        }
    }
}

/// The customer to record.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// A customer id of the business's connected Stripe account.
    #[schema(
        pattern = "^cus_[A-Za-z0-9_]+$",
        max_length = 255,
        example = "cus_NffrFeUfNV2Hib"
    )]
    customer_id: String,
    /// Where the portal's "return to site" link leads: an absolute http(s) URL.
    #[schema(format = Uri, pattern = "^https?://", example = "https://app.example.com/account")]
    return_url: Option<String>,
}

/// Record a customer
///
/// Records the customer for the business (or refreshes it from Stripe when already
/// recorded) and answers with its subscriptions and a fresh customer-portal URL.
#[utoipa::path(
    post,
    path = "/api/customers/",
    tag = "customers",
    request_body = NewCustomer,
    responses(
        (status = 201, description = "Newly recorded.", body = CustomerJson),
        (status = 200, description = "Already recorded; the copy was refreshed from Stripe.", body = CustomerJson),
        BodyErrors,
        AuthErrors,
        StripeErrors,
    ),
    security(("oauth2" = ["customers:write"])),
)]
pub(super) async fn customers_create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    JsonBody(input): JsonBody<NewCustomer>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(CUSTOMERS_WRITE)?;
    let (document, created) = state
        .customers
        .record(
            caller.business_user_id,
            &input.customer_id,
            input.return_url,
            caller.actor(&req, &state),
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(CustomerJson::from(document)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many customers to answer with.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 10)]
    limit: Option<String>,
    /// The last `customer_id` of the previous page: the next page starts after it.
    #[param(pattern = "^cus_[A-Za-z0-9_]+$", max_length = 255)]
    starting_after: Option<String>,
}

/// One page of recorded customers, newest first.
#[derive(Serialize, ToSchema)]
#[schema(as = CustomerList)]
pub struct CustomerListJson {
    /// The customers of this page.
    data: Vec<CustomerJson>,
    /// More customers follow: pass the last `customer_id` as `starting_after`.
    has_more: bool,
}

/// List recorded customers
///
/// The business's recorded customers, newest first, from bridgekeeper's copy (this
/// never calls Stripe). Customers recorded under a Stripe connection that has ended are
/// listed with `detached: true`.
#[utoipa::path(
    get,
    path = "/api/customers/",
    tag = "customers",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of customers.", body = CustomerListJson),
        (status = 400, response = BadRequest),
        AuthErrors,
    ),
    security(("oauth2" = ["customers:read"])),
)]
pub(super) async fn customers_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(CUSTOMERS_READ)?;
    let query: ListQuery = query(&req)?;
    let limit = match query.limit.as_deref() {
        None => 10,
        Some(raw) => raw
            .parse()
            .map_err(|_| ApiError::bad_request("limit", "a number from 1 to 100"))?,
    };
    let page = state
        .customers
        .list(caller.business_user_id, limit, query.starting_after)
        .await?;
    Ok(HttpResponse::Ok().json(CustomerListJson {
        data: page.customers.into_iter().map(CustomerJson::from).collect(),
        has_more: page.has_more,
    }))
}

/// Read a customer
///
/// One recorded customer. The copy is refreshed from Stripe when it is older than
/// `CUSTOMERS_REFRESH_AFTER_SECONDS`; when Stripe cannot be reached then, the last copy
/// is served with `stale: true`. A customer whose Stripe connection has ended answers
/// 409 `customer_detached`.
#[utoipa::path(
    get,
    path = "/api/customers/{customer_id}/",
    tag = "customers",
    params(CustomerPath),
    responses(
        (status = 200, description = "The customer.", body = CustomerJson),
        (status = 400, response = BadRequest),
        AuthErrors,
        StripeErrors,
    ),
    security(("oauth2" = ["customers:read"])),
)]
pub(super) async fn customer_get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<CustomerPath>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(CUSTOMERS_READ)?;
    let document = state
        .customers
        .get(caller.business_user_id, &path.customer_id)
        .await?;
    Ok(HttpResponse::Ok().json(CustomerJson::from(document)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CustomerPath {
    /// A customer id the business recorded.
    #[param(
        pattern = "^cus_[A-Za-z0-9_]+$",
        max_length = 255,
        example = "cus_NffrFeUfNV2Hib"
    )]
    customer_id: String,
}

/// Forget a customer
///
/// bridgekeeper forgets the customer and its copy; nothing changes at Stripe.
#[utoipa::path(
    delete,
    path = "/api/customers/{customer_id}/",
    tag = "customers",
    params(CustomerPath),
    responses(
        (status = 204, description = "Forgotten."),
        (status = 400, response = BadRequest),
        AuthErrors,
        (status = 404, response = NotFound),
    ),
    security(("oauth2" = ["customers:write"])),
)]
pub(super) async fn customer_delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<CustomerPath>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(CUSTOMERS_WRITE)?;
    state
        .customers
        .forget(
            caller.business_user_id,
            &path.customer_id,
            caller.actor(&req, &state),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Where the new portal session returns to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPortalSession {
    /// Where the portal's "return to site" link leads: an absolute http(s) URL.
    #[schema(format = Uri, pattern = "^https?://", example = "https://app.example.com/account")]
    return_url: Option<String>,
}

/// A Stripe customer-portal session.
#[derive(Serialize, ToSchema)]
#[schema(as = PortalSession)]
pub struct PortalSessionJson {
    /// The portal page to send the customer to. Short-lived: create one when the user
    /// clicks, never store it.
    #[schema(format = Uri)]
    url: String,
    /// When Stripe created the session.
    #[schema(format = DateTime)]
    created: String,
    /// Where the portal's "return to site" link leads (null for the account's default).
    #[schema(format = Uri)]
    return_url: Option<String>,
}

/// Open a portal session
///
/// A new Stripe customer-portal session for a recorded customer, where they manage
/// their subscriptions and payment details. Refused with 409 `customer_detached` when
/// the customer's Stripe connection has ended.
#[utoipa::path(
    post,
    path = "/api/customers/{customer_id}/portal_sessions/",
    tag = "customers",
    params(CustomerPath),
    request_body(content = Option<NewPortalSession>, description = "Optional: an empty body is an empty object."),
    responses(
        (status = 201, description = "The new session.", body = PortalSessionJson),
        BodyErrors,
        AuthErrors,
        StripeErrors,
    ),
    security(("oauth2" = ["customers:write"])),
)]
pub(super) async fn portal_session_create(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<CustomerPath>,
    JsonBody(input): JsonBody<NewPortalSession>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(CUSTOMERS_WRITE)?;
    let session = state
        .customers
        .create_portal_session(caller.business_user_id, &path.customer_id, input.return_url)
        .await?;
    Ok(HttpResponse::Created().json(PortalSessionJson {
        url: session.url,
        created: rfc3339(session.created),
        return_url: session.return_url,
    }))
}
