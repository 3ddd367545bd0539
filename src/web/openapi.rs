//! The OpenAPI 3.1 document of the JSON API (`/api/`) and the OAuth endpoints (`/o/`),
//! generated from the handlers' `#[utoipa::path]` annotations and the serde types they
//! send and receive, so it cannot drift from the code. Served at `/api/schema/` (with
//! this server's absolute URLs), written to `docs/openapi.json` by `bridgekeeper openapi`
//! (with relative URLs, so the committed file does not depend on where it was made), and
//! read by the browsable API for each endpoint's name, description and form fields.

use std::sync::LazyLock;

use utoipa::openapi::security::{
    AuthorizationCode, ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes,
    SecurityScheme,
};
use utoipa::openapi::server::Server;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, OpenApi, Response, ResponseBuilder, Type,
};
use utoipa::OpenApi as _;

use crate::oauth::metadata::{AUTHORIZE_PATH, TOKEN_PATH};
use crate::oauth::scope::{self, CUSTOMERS_READ, CUSTOMERS_WRITE};
use crate::web::api::error::ErrorCode;

/// The security scheme of `/api/`: OAuth 2 access tokens.
pub const OAUTH2: &str = "oauth2";
/// The security scheme of `/o/` for confidential clients sending their secret by HTTP
/// Basic (`client_secret_post` puts it in the form instead, which OpenAPI cannot name).
pub const CLIENT_SECRET_BASIC: &str = "clientSecretBasic";

const DESCRIPTION: &str = "\
bridgekeeper's JSON API: a business's programs, holding an access token from \
`/o/token/`, record their Stripe customers and read their subscriptions and \
customer-portal sessions; bridgekeeper calls Stripe with the platform's key and the \
business's connected account.

Every `/api/` request needs `Authorization: Bearer <access token>` (never a token in the \
URL). Bodies are JSON; times are RFC 3339 in UTC. Errors are \
`{\"error\": code, \"message\": text}` with a stable code per status (a 400 also names \
the `field`); the `/o/` endpoints answer errors as RFC 6749 §5.2 \
`{\"error\", \"error_description\"}`.";

/// The document without a server: relative URLs throughout.
static BASE: LazyLock<OpenApi> = LazyLock::new(|| {
    let mut doc = crate::web::api::ApiPaths::openapi();
    doc.merge(crate::web::oauth::OAuthPaths::openapi());
    doc.info.description = Some(DESCRIPTION.to_owned());
    doc
});

/// The document, with absolute URLs under `issuer` when given (the served one) or
/// relative ones (the committed one).
pub fn document(issuer: Option<&str>) -> OpenApi {
    let mut doc = BASE.clone();
    let base = issuer.unwrap_or("");
    if let Some(issuer) = issuer {
        doc.servers = Some(vec![Server::new(issuer)]);
    }
    let scopes = || {
        Scopes::from_iter(
            [CUSTOMERS_READ, CUSTOMERS_WRITE].map(|name| (name, scope::describe(name))),
        )
    };
    let token_url = format!("{base}{TOKEN_PATH}");
    let oauth2 = OAuth2::with_description(
        [
            Flow::AuthorizationCode(AuthorizationCode::with_refresh_url(
                format!("{base}{AUTHORIZE_PATH}"),
                token_url.clone(),
                scopes(),
                token_url.clone(),
            )),
            Flow::ClientCredentials(ClientCredentials::new(token_url, scopes())),
        ],
        "Access tokens from this server. Single-page and native apps use the \
         authorization-code flow with PKCE (`code_challenge_method=S256` is required); \
         back ends (confidential clients) may use client credentials. Send the token as \
         `Authorization: Bearer <token>`.",
    );
    let basic = HttpBuilder::new()
        .scheme(HttpAuthScheme::Basic)
        .description(Some(
            "A confidential client's `client_id` and `client_secret` (RFC 6749 §2.3.1, \
             each form-encoded first). They may instead be sent as `client_id` and \
             `client_secret` form fields (`client_secret_post`), never both ways at once. \
             Public clients send `client_id` alone.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(OAUTH2, SecurityScheme::OAuth2(oauth2));
    components.add_security_scheme(CLIENT_SECRET_BASIC, SecurityScheme::Http(basic));
    doc
}

/// The document as the file `docs/openapi.json` holds it.
pub fn committed_json() -> String {
    to_json(&document(None))
}

pub fn to_json(doc: &OpenApi) -> String {
    // Serializing plain data structures cannot fail.
    let mut json = doc.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

/// The two error shapes: the API's and OAuth's (RFC 6749 §5.2).
#[derive(Clone, Copy)]
pub enum ErrorShape {
    /// `{"error", "message"}`, plus `field` when `with_field`.
    Api { with_field: bool },
    /// `{"error", "error_description"}`.
    OAuth,
}

/// A documented error response: the `error` codes this status comes with (each
/// described), the shape, and the headers it carries.
pub fn error_response(
    status: u16,
    description: &str,
    codes: &[ErrorCode],
    shape: ErrorShape,
    headers: &[(&str, &str)],
) -> Response {
    let codes: Vec<&ErrorCode> = codes.iter().filter(|c| c.status == status).collect();
    let code_list: Vec<String> = codes
        .iter()
        .map(|c| format!("- `{}`: {}", c.code, c.when))
        .collect();
    let string = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    let mut enum_values: Vec<&str> = codes.iter().map(|c| c.code).collect();
    enum_values.dedup();
    let mut schema = ObjectBuilder::new().property(
        "error",
        string(&format!("A stable code:\n{}", code_list.join("\n"))).enum_values(Some(enum_values)),
    );
    schema = match shape {
        ErrorShape::Api { with_field } => {
            let schema = schema.property("message", string("What went wrong, for people."));
            if with_field {
                schema
                    .property(
                        "field",
                        string("The request field (or `body`, `query`) at fault."),
                    )
                    .required("field")
            } else {
                schema
            }
            .required("message")
        }
        ErrorShape::OAuth => schema
            .property("error_description", string("What went wrong, for people."))
            .required("error_description"),
    }
    .required("error");
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(schema)).build(),
    );
    for (name, description) in headers {
        response = response.header(
            *name,
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(*description))
                .build(),
        );
    }
    response.build()
}

/// Declares reusable error responses (`components/responses`), each a type for
/// `#[utoipa::path(responses((status = N, response = Type)))]`.
macro_rules! error_responses {
    ($codes:expr; $($name:ident = $status:literal, $shape:expr, $description:literal $(, $header:literal: $header_description:literal)*;)*) => {
        $(
            pub struct $name;

            impl<'s> utoipa::ToResponse<'s> for $name {
                fn response() -> (&'s str, utoipa::openapi::RefOr<utoipa::openapi::Response>) {
                    (
                        stringify!($name),
                        $crate::web::openapi::error_response(
                            $status,
                            $description,
                            $codes,
                            $shape,
                            &[$(($header, $header_description)),*],
                        )
                        .into(),
                    )
                }
            }
        )*
    };
}
pub(crate) use error_responses;

/// An endpoint as the document describes it, for the browsable API and the API tab.
pub struct Endpoint {
    /// The path template, e.g. `/api/customers/{customer_id}/`.
    pub path: String,
    pub operations: Vec<Operation>,
}

pub struct Operation {
    pub method: &'static str,
    pub summary: String,
    pub description: String,
    /// The JSON body's fields, for a form.
    pub fields: Vec<Field>,
}

pub struct Field {
    pub name: String,
    pub required: bool,
    pub description: String,
    pub example: String,
}

impl Endpoint {
    /// Whether a browser can open it as it is (a GET without path parameters).
    pub fn is_link(&self) -> bool {
        !self.path.contains('{') && self.operations.iter().any(|o| o.method == "GET")
    }

    pub fn methods(&self) -> Vec<&'static str> {
        self.operations.iter().map(|o| o.method).collect()
    }
}

/// The relative document as JSON, which is simpler to walk than utoipa's types.
static BASE_JSON: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::to_value(document(None)).unwrap_or_default());

const METHODS: [(&str, &str); 5] = [
    ("get", "GET"),
    ("post", "POST"),
    ("put", "PUT"),
    ("patch", "PATCH"),
    ("delete", "DELETE"),
];

/// Every endpoint under `prefix`, in the document's order.
pub fn endpoints(prefix: &str) -> Vec<Endpoint> {
    let Some(paths) = BASE_JSON["paths"].as_object() else {
        return Vec::new();
    };
    paths
        .iter()
        .filter(|(path, _)| path.starts_with(prefix))
        .map(|(path, item)| endpoint(path, item))
        .collect()
}

/// The endpoint whose template matches a request path (with or without the trailing
/// slash).
pub fn endpoint_at(path: &str) -> Option<Endpoint> {
    let paths = BASE_JSON["paths"].as_object()?;
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    paths.iter().find_map(|(template, item)| {
        let pattern: Vec<&str> = template.trim_end_matches('/').split('/').collect();
        let matches = pattern.len() == segments.len()
            && pattern
                .iter()
                .zip(&segments)
                .all(|(p, s)| p == s || (p.starts_with('{') && p.ends_with('}') && !s.is_empty()));
        matches.then(|| endpoint(template, item))
    })
}

fn endpoint(path: &str, item: &serde_json::Value) -> Endpoint {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let operations = METHODS
        .iter()
        .filter_map(|(key, method)| {
            let op = item.get(*key)?;
            Some(Operation {
                method,
                summary: text(&op["summary"]),
                description: text(&op["description"]),
                fields: body_fields(&op["requestBody"]["content"]["application/json"]["schema"]),
            })
        })
        .collect();
    Endpoint {
        path: path.to_owned(),
        operations,
    }
}

/// Follows `$ref`s (and the `oneOf` of an optional body) to the object schema.
fn resolve(schema: &serde_json::Value) -> Option<&serde_json::Value> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.strip_prefix("#/components/schemas/")?;
        return resolve(&BASE_JSON["components"]["schemas"][name]);
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        return choices
            .iter()
            .find_map(|c| resolve(c).filter(|s| s["properties"].is_object()));
    }
    schema["properties"].is_object().then_some(schema)
}

fn body_fields(schema: &serde_json::Value) -> Vec<Field> {
    let Some(object) = resolve(schema) else {
        return Vec::new();
    };
    let required: Vec<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    object["properties"]
        .as_object()
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| Field {
                    name: name.clone(),
                    required: required.contains(&name.as_str()),
                    description: property["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    example: property["example"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Declares groups of the reusable error responses that operations share, each a type
/// for `#[utoipa::path(responses(Group, …))]`.
macro_rules! response_groups {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal: $response:ty),*];)*) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl utoipa::IntoResponses for $name {
                fn responses() -> std::collections::BTreeMap<
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::Response>,
                > {
                    [$((
                        $status.to_string(),
                        utoipa::openapi::RefOr::Ref(utoipa::openapi::Ref::from_response_name(
                            <$response as utoipa::ToResponse>::response().0,
                        )),
                    )),*]
                    .into_iter()
                    .collect()
                }
            }
        )*
    };
}
pub(crate) use response_groups;
