//! Request input for `/api/`: a JSON body read into a typed request (the same type the
//! OpenAPI document describes) and query parameters, each failure a 400 naming the field
//! at fault.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::web::media_type;

/// A JSON object body deserialized into `T` (which denies unknown fields). An empty
/// body (or `null`) is an empty object, so a request whose fields are all optional
/// needs none.
pub struct JsonBody<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    media_type(req).is_some_and(|media_type| {
        media_type == "application/json"
            || (media_type.starts_with("application/") && media_type.ends_with("+json"))
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let mut payload = payload.take();
        Box::pin(async move {
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                // Too large or too slow: `web::limits` answers for the route.
                let chunk = chunk.map_err(|e| ApiError::bad_request("body", e.to_string()))?;
                body.extend_from_slice(&chunk);
            }
            // An empty body stands for "no fields", as `null` does.
            let value = if body.iter().all(u8::is_ascii_whitespace) {
                serde_json::Value::Null
            } else if !json {
                return Err(ApiError::UnsupportedMediaType);
            } else {
                serde_json::from_slice(&body).map_err(|e| {
                    ApiError::bad_request("body", format!("the body is not valid JSON: {e}"))
                })?
            };
            match value {
                serde_json::Value::Null => parse(serde_json::Value::Object(Default::default())),
                serde_json::Value::Object(_) => parse(value),
                _ => Err(ApiError::bad_request("body", "send a JSON object")),
            }
            .map(JsonBody)
        })
    }
}

/// Deserializes a JSON object, naming the field at fault: the path of a wrong or unknown
/// field, or the name of a missing one (serde reports those at the object itself, as
/// "missing field `name`").
fn parse<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = e.inner().to_string();
        match e.path().iter().next() {
            Some(segment) => ApiError::bad_request(segment.to_string(), message),
            None => match message.split('`').nth(1) {
                Some(missing) if message.starts_with("missing field") => {
                    ApiError::bad_request(missing, "required")
                }
                _ => ApiError::bad_request("body", message),
            },
        }
    })
}

/// The query string deserialized into `T` (unknown parameters are ignored, as HTTP
/// caches and the browsable API's `format` add some).
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::bad_request("query", e.to_string()))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the errors are looked at")]
    struct Request {
        customer_id: String,
        return_url: Option<String>,
    }

    fn field_at_fault(value: serde_json::Value) -> String {
        match parse::<Request>(value) {
            Err(ApiError::BadRequest { field, .. }) => field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn each_malformed_body_names_its_field() {
        assert_eq!(field_at_fault(json!({})), "customer_id");
        assert_eq!(field_at_fault(json!({"customer_id": 42})), "customer_id");
        assert_eq!(
            field_at_fault(json!({"customer_id": "cus_1", "return_url": 5})),
            "return_url"
        );
        assert_eq!(
            field_at_fault(json!({"customer_id": "cus_1", "extra": true})),
            "extra"
        );
    }
}
