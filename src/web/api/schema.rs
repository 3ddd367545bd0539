//! `GET /api/schema/`: the OpenAPI document, and the API's reusable error responses.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::web::openapi::{self, error_responses, response_groups, ErrorShape};
use crate::web::AppState;

use super::error::ERROR_CODES;

const PLAIN: ErrorShape = ErrorShape::Api { with_field: false };

error_responses! { ERROR_CODES;
    BadRequest = 400, ErrorShape::Api { with_field: true },
        "The request is malformed: `field` names what to fix.";
    Unauthorized = 401, PLAIN, "No valid access token.",
        "WWW-Authenticate": "`Bearer realm=\"bridgekeeper\"`, with `error` and `error_description` when a token was sent (RFC 6750).";
    Forbidden = 403, PLAIN, "The token lacks the scope this operation needs.",
        "WWW-Authenticate": "`Bearer realm=\"bridgekeeper\", error=\"insufficient_scope\", scope=\"…\"` (RFC 6750).";
    NotFound = 404, PLAIN, "Nothing here for this business.";
    Conflict = 409, PLAIN, "The business's Stripe connection cannot serve this request: none, not set up for it, or not the one the customer was recorded under.";
    Gone = 410, PLAIN, "The customer was deleted in Stripe.";
    RequestTimeout = 408, PLAIN, "The body did not arrive in time.";
    PayloadTooLarge = 413, PLAIN, "The body is too large.";
    UnsupportedMediaType = 415, PLAIN, "The body is not JSON.";
    BadGateway = 502, PLAIN, "Stripe refused the request.";
    ServiceUnavailable = 503, PLAIN, "Stripe is unavailable; retry later.",
        "Retry-After": "Seconds to wait before retrying.";
    GatewayTimeout = 504, PLAIN, "Stripe did not answer in time; retry later.";
}

response_groups! {
    /// A token missing, bad, or without the scope.
    AuthErrors = [401: Unauthorized, 403: Forbidden];
    /// A JSON body that cannot be read.
    BodyErrors = [
        400: BadRequest,
        408: RequestTimeout,
        413: PayloadTooLarge,
        415: UnsupportedMediaType
    ];
    /// What Stripe, or the business's connection to it, may answer.
    StripeErrors = [
        404: NotFound,
        409: Conflict,
        410: Gone,
        502: BadGateway,
        503: ServiceUnavailable,
        504: GatewayTimeout
    ];
}

/// The document with this server's URLs. Public, like the server metadata: it holds
/// nothing secret.
pub async fn schema_get(state: web::Data<AppState>) -> HttpResponse {
    let doc = openapi::document(Some(&state.settings.issuer()));
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(openapi::to_json(&doc))
}
