//! Every request the client sends names only parameters Stripe documents for that path
//! and method: the v1 API is checked against Stripe's OpenAPI description
//! (`../shared/stripe/openapi-spec3-2023-08-16.yaml`), the Connect OAuth endpoints
//! (absent from the spec) against the tables of `../shared/docs/stripe-api.md` §1.

use std::collections::BTreeSet;

use bridgekeeper::stripe::form::{decode, top_level_name};
use bridgekeeper::stripe::ListSubscriptions;
use serde_yaml::Value;

use crate::stripe_client::Loopback;

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/stripe/openapi-spec3-2023-08-16.yaml"
);

/// Connect OAuth parameters per docs/stripe-api.md §1.1, §1.3 and §1.4.
const AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "scope",
    "redirect_uri",
    "state",
    "stripe_user",
    "stripe_landing",
    "always_prompt",
    "suggested_capabilities",
];
const STRIPE_USER_KEYS: &[&str] = &[
    "email",
    "url",
    "country",
    "phone_number",
    "business_name",
    "business_type",
    "first_name",
    "last_name",
    "dob_day",
    "dob_month",
    "dob_year",
    "street_address",
    "city",
    "state",
    "zip",
    "physical_product",
    "product_description",
    "currency",
];
const TOKEN_PARAMS: &[&str] = &[
    "grant_type",
    "code",
    "refresh_token",
    "scope",
    "assert_capabilities",
];
const DEAUTHORIZE_PARAMS: &[&str] = &["client_id", "stripe_user_id"];

fn spec_path<'a>(spec: &'a Value, path: &str) -> Option<&'a Value> {
    let paths = spec.get("paths")?.as_mapping()?;
    let wanted: Vec<&str> = path.split('/').collect();
    paths.iter().find_map(|(template, item)| {
        let template = template.as_str()?;
        let parts: Vec<&str> = template.split('/').collect();
        let matches = parts.len() == wanted.len()
            && parts
                .iter()
                .zip(&wanted)
                .all(|(t, w)| (t.starts_with('{') && t.ends_with('}')) || t == w);
        matches.then_some(item)
    })
}

/// Names the spec allows: query parameters for GET, form-body properties for POST.
fn allowed_names(spec: &Value, method: &str, path: &str) -> BTreeSet<String> {
    let item = spec_path(spec, path).unwrap_or_else(|| panic!("{path} is not in Stripe's spec"));
    let operation = item
        .get(method.to_ascii_lowercase())
        .unwrap_or_else(|| panic!("{method} {path} is not in Stripe's spec"));
    let mut names = BTreeSet::new();
    if let Some(parameters) = operation.get("parameters").and_then(Value::as_sequence) {
        for parameter in parameters {
            if parameter.get("in").and_then(Value::as_str) == Some("query") {
                if let Some(name) = parameter.get("name").and_then(Value::as_str) {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    if let Some(properties) = operation
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(|c| c.get("application/x-www-form-urlencoded"))
        .and_then(|f| f.get("schema"))
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_mapping)
    {
        for key in properties.keys().filter_map(Value::as_str) {
            names.insert(key.to_owned());
        }
    }
    names
}

#[tokio::test]
async fn every_parameter_the_client_sends_is_documented_for_its_path() {
    let stripe = Loopback::start();
    let client = stripe.client("2026-10-28.endive");
    let account = stripe.demo_account();

    // Exercise every client call, with every option it can send.
    let authorize = client.authorize_url(
        "https://auth.example.com/connect/stripe/callback",
        "state-value",
        "owner@acme.test",
        "Acme Inc",
    );
    let code = stripe.emulator.approve(&account);
    client.exchange_code(&code).await.expect("exchange");
    let alice = stripe.customer(&account, "Alice");
    client
        .retrieve_customer(&account, &alice)
        .await
        .expect("customer");
    client
        .list_subscriptions(
            &account,
            &ListSubscriptions {
                customer: Some(alice.clone()),
                status: Some("all".into()),
                price: None,
                limit: Some(1),
                starting_after: None,
                ending_before: None,
                expand: vec![
                    "data.items.data.price.product".into(),
                    "data.customer".into(),
                ],
            },
        )
        .await
        .expect("list");
    let all = client
        .list_subscriptions(&account, &ListSubscriptions::default())
        .await
        .expect("list");
    client
        .list_subscriptions_page(
            &account,
            &ListSubscriptions {
                ending_before: all.last().map(|s| s.id.clone()),
                limit: Some(2),
                ..Default::default()
            },
        )
        .await
        .expect("page");
    client
        .create_billing_portal_session(&account, &alice, Some("https://shop.test/account"))
        .await
        .expect("portal");
    client.deauthorize(&account).await.expect("deauthorize");

    // The authorize URL against the doc's table.
    for (key, _) in decode(authorize.query().unwrap_or_default()) {
        let name = top_level_name(&key);
        assert!(
            AUTHORIZE_PARAMS.contains(&name),
            "authorize: {key} is not documented"
        );
        if name == "stripe_user" {
            let inner = key.trim_start_matches("stripe_user[").trim_end_matches(']');
            assert!(
                STRIPE_USER_KEYS.contains(&inner),
                "authorize: {key} is not documented"
            );
        }
    }

    let spec: Value = serde_yaml::from_str(
        &std::fs::read_to_string(SPEC).expect("the spec is beside the repository"),
    )
    .expect("the spec parses");
    let requests = stripe.emulator.requests();
    let mut checked = BTreeSet::new();
    for request in &requests {
        let raw = if request.method == "GET" {
            &request.query
        } else {
            &request.body
        };
        let names: BTreeSet<String> = decode(raw)
            .into_iter()
            .map(|(k, _)| top_level_name(&k).to_owned())
            .collect();
        let allowed: BTreeSet<String> = match request.path.as_str() {
            "/oauth/token" => TOKEN_PARAMS.iter().map(|s| s.to_string()).collect(),
            "/oauth/deauthorize" => DEAUTHORIZE_PARAMS.iter().map(|s| s.to_string()).collect(),
            path => allowed_names(&spec, &request.method, path),
        };
        for name in &names {
            assert!(
                allowed.contains(name),
                "{} {} sends `{name}`, which is not documented (allowed: {allowed:?})",
                request.method,
                request.path
            );
        }
        assert_eq!(
            request.status, 200,
            "{} {} failed",
            request.method, request.path
        );
        checked.insert(format!(
            "{} {}",
            request.method,
            request
                .path
                .split('/')
                .take(3)
                .collect::<Vec<_>>()
                .join("/")
        ));
    }
    for expected in [
        "POST /oauth/token",
        "POST /oauth/deauthorize",
        "GET /v1/customers",
        "GET /v1/subscriptions",
        "POST /v1/billing_portal",
    ] {
        assert!(
            checked.contains(expected),
            "{expected} was not exercised: {checked:?}"
        );
    }
}
