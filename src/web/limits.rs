//! Limits every request meets, in one place: how large its body may be, how long the
//! body may take to arrive, and the answer, in the route's own shape, when a request
//! breaks one or when its query or path cannot be read. A person gets a page, a
//! program at `/api/` our JSON error, a client at `/o/` RFC 6749's, Stripe at the
//! webhook endpoint the JSON it logs; never actix's plain text.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::{InternalError, PayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::Stream;

use crate::web::api::error::ApiError;
use crate::web::error::PageError;
use crate::web::oauth::error::no_store_json;
use crate::web::AppState;

/// How long a client may take to send the request line and headers (actix's
/// `client_request_timeout`).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest body of a page form, a `/o/` request and an `/api/` request: each is a few
/// hundred bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Largest Stripe event accepted at the webhook endpoint.
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// Who a route answers, and so the shape of its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    Person,
    Api,
    OAuth,
    Stripe,
}

impl Audience {
    fn of(path: &str) -> Self {
        if path.starts_with("/api/") {
            Audience::Api
        } else if path.starts_with("/o/") || path.starts_with("/.well-known/") {
            Audience::OAuth
        } else if path.starts_with("/webhooks/") {
            Audience::Stripe
        } else {
            Audience::Person
        }
    }

    fn body_limit(self) -> usize {
        match self {
            Audience::Stripe => WEBHOOK_BODY_LIMIT,
            _ => BODY_LIMIT,
        }
    }
}

/// What was wrong with a request before any handler could look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    TooLarge { limit: usize },
    TimedOut,
    BadQuery(String),
    BadPath,
}

impl Refusal {
    fn answer(&self, audience: Audience) -> HttpResponse {
        match audience {
            Audience::Person => match self {
                Refusal::TooLarge { limit } => PageError::TooLarge { limit: *limit },
                Refusal::TimedOut => PageError::TimedOut,
                Refusal::BadQuery(why) => {
                    PageError::BadRequest(format!("The address could not be read: {why}."))
                }
                Refusal::BadPath => PageError::NotFound,
            }
            .error_response(),
            Audience::Api => match self {
                Refusal::TooLarge { limit } => ApiError::PayloadTooLarge { limit: *limit },
                Refusal::TimedOut => ApiError::RequestTimeout,
                Refusal::BadQuery(why) => ApiError::bad_request("query", why.clone()),
                Refusal::BadPath => ApiError::NotFound("nothing at this path".into()),
            }
            .error_response(),
            Audience::OAuth | Audience::Stripe => {
                let (status, description) = match self {
                    Refusal::TooLarge { limit } => (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the body is larger than {limit} bytes"),
                    ),
                    Refusal::TimedOut => (
                        StatusCode::REQUEST_TIMEOUT,
                        "the body did not arrive in time".to_owned(),
                    ),
                    Refusal::BadQuery(why) => (
                        StatusCode::BAD_REQUEST,
                        format!("the query could not be read: {why}"),
                    ),
                    Refusal::BadPath => (StatusCode::NOT_FOUND, "nothing at this path".into()),
                };
                let mut answer = if audience == Audience::OAuth {
                    no_store_json(&serde_json::json!({
                        "error": "invalid_request",
                        "error_description": description,
                    }))
                } else {
                    HttpResponse::Ok().json(serde_json::json!({ "error": description }))
                };
                *answer.status_mut() = status;
                answer
            }
        }
    }
}

/// The middleware: refuses a body whose announced length is over the route's limit
/// at once, and otherwise watches the body as the handler reads it, replacing the
/// handler's answer when the body turned out too large or too slow. The connection is
/// closed after such an answer (the rest of the body is never read).
pub async fn enforce(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let audience = Audience::of(req.path());
    let limit = audience.body_limit();
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        let answer = closing(Refusal::TooLarge { limit }.answer(audience));
        return Ok(req.into_response(answer).map_into_right_body());
    }
    // HTTP/1.1 without a length or chunked encoding has no body: nothing to watch (most
    // requests: every GET a token or a page makes).
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    if !chunked && announced.unwrap_or(0) == 0 {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    // The largest body anyone sends us (a 1 MiB webhook) takes well under a second; a
    // body that never arrives must not hold a connection open.
    let body_timeout = req
        .app_data::<web::Data<AppState>>()
        .map_or(10, |state| state.settings.request_body_timeout_seconds);
    let broken = Rc::new(Cell::new(None));
    let body = WatchedBody {
        inner: req.take_payload(),
        read: 0,
        limit,
        deadline: Box::pin(tokio::time::sleep(Duration::from_secs(body_timeout))),
        broken: broken.clone(),
    };
    req.set_payload(Payload::from(
        Box::pin(body) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
    ));
    let response = next.call(req).await?;
    match broken.take() {
        None => Ok(response.map_into_left_body()),
        Some(refusal) => {
            let (req, _) = response.into_parts();
            let answer = closing(refusal.answer(audience));
            Ok(ServiceResponse::new(req, answer).map_into_right_body())
        }
    }
}

fn closing(mut answer: HttpResponse) -> HttpResponse {
    answer
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    answer
}

/// A request body that stops with an error once it is over `limit` bytes or past its
/// deadline, and says which in `broken`.
struct WatchedBody {
    inner: Payload,
    read: usize,
    limit: usize,
    deadline: Pin<Box<tokio::time::Sleep>>,
    broken: Rc<Cell<Option<Refusal>>>,
}

impl Stream for WatchedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.read += chunk.len();
                if self.read > self.limit {
                    let limit = self.limit;
                    self.broken.set(Some(Refusal::TooLarge { limit }));
                    return Poll::Ready(Some(Err(PayloadError::Overflow)));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.broken.set(Some(Refusal::TimedOut));
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the body did not arrive in time",
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

/// Query strings that do not fit the handler's parameters (`?before=abc`): a 400 in the
/// route's shape.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, req| {
        let answer = Refusal::BadQuery(error.to_string()).answer(Audience::of(req.path()));
        InternalError::from_response(error, answer).into()
    })
}

/// Path segments that do not fit the handler's parameters (`/sessions/abc/end` where
/// a number belongs): nothing is at that address, a 404 in the route's shape.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, req: &HttpRequest| {
        let answer = Refusal::BadPath.answer(Audience::of(req.path()));
        InternalError::from_response(error, answer).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_family_has_its_audience_and_limit() {
        assert_eq!(Audience::of("/login"), Audience::Person);
        assert_eq!(Audience::of("/admin/audit/"), Audience::Person);
        assert_eq!(Audience::of("/api/customers/"), Audience::Api);
        assert_eq!(Audience::of("/o/token/"), Audience::OAuth);
        assert_eq!(Audience::of("/webhooks/stripe"), Audience::Stripe);
        assert_eq!(Audience::Stripe.body_limit(), WEBHOOK_BODY_LIMIT);
        assert_eq!(Audience::OAuth.body_limit(), BODY_LIMIT);
    }

    #[test]
    fn an_oauth_refusal_is_rfc_6749_json_with_the_limits_status() {
        let answer = Refusal::TooLarge { limit: BODY_LIMIT }.answer(Audience::OAuth);
        assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = crate::web::error::body_in_memory(answer).expect("in memory");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["error"], "invalid_request");
        assert_eq!(
            json["error_description"],
            "the body is larger than 65536 bytes"
        );
    }
}
