//! The Stripe objects this service reads, parsed defensively: unknown fields are
//! ignored, expandable fields are an id or the object, and subscription periods are
//! read from the items (API 2025-03-31.basil and later) or from the subscription (before).

use serde::{Deserialize, Serialize};

use crate::crypto::mask_secret;

/// A field Stripe returns as an id unless it was expanded.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Expandable<T> {
    Id(String),
    Object(Box<T>),
}

impl<T: HasId> Expandable<T> {
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(object) => object.id(),
        }
    }

    pub fn object(&self) -> Option<&T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(object),
        }
    }
}

pub trait HasId {
    fn id(&self) -> &str;
}

/// Stripe's list envelope.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct List<T> {
    pub object: String,
    pub data: Vec<T>,
    pub has_more: bool,
    pub url: String,
}

/// The Connect token endpoint's answer. The tokens are deprecated by Stripe but returned;
/// they are secrets and never printed.
#[derive(Clone, Deserialize)]
pub struct OAuthToken {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub token_type: Option<String>,
    pub stripe_publishable_key: Option<String>,
    pub stripe_user_id: String,
    pub scope: Option<String>,
    #[serde(default)]
    pub livemode: bool,
}

impl std::fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthToken")
            .field(
                "access_token",
                &self.access_token.as_deref().map(mask_secret),
            )
            .field(
                "refresh_token",
                &self.refresh_token.as_deref().map(mask_secret),
            )
            .field("stripe_user_id", &self.stripe_user_id)
            .field("scope", &self.scope)
            .field("livemode", &self.livemode)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deauthorization {
    pub stripe_user_id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub deleted: bool,
}

impl HasId for Customer {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Product {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub active: bool,
}

impl HasId for Product {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Recurring {
    pub interval: String,
    #[serde(default = "one")]
    pub interval_count: i64,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Price {
    pub id: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub unit_amount: Option<i64>,
    #[serde(default)]
    pub nickname: Option<String>,
    #[serde(default)]
    pub recurring: Option<Recurring>,
    pub product: Expandable<Product>,
}

impl HasId for Price {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SubscriptionItem {
    pub id: String,
    pub price: Price,
    #[serde(default)]
    pub quantity: Option<i64>,
    /// Present from API 2025-03-31.basil on.
    #[serde(default)]
    pub current_period_start: Option<i64>,
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    pub customer: Expandable<Customer>,
    pub items: List<SubscriptionItem>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(default)]
    pub cancel_at: Option<i64>,
    #[serde(default)]
    pub canceled_at: Option<i64>,
    #[serde(default)]
    pub ended_at: Option<i64>,
    #[serde(default)]
    pub trial_start: Option<i64>,
    #[serde(default)]
    pub trial_end: Option<i64>,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub livemode: bool,
    /// Only before API 2025-03-31.basil.
    #[serde(default)]
    pub current_period_start: Option<i64>,
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

impl HasId for Subscription {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Subscription {
    /// The current period's end: the earliest item-level end (basil and later), else
    /// the subscription's own field (older API versions).
    pub fn current_period_end(&self) -> Option<i64> {
        self.items
            .data
            .iter()
            .filter_map(|i| i.current_period_end)
            .min()
            .or(self.current_period_end)
    }

    pub fn current_period_start(&self) -> Option<i64> {
        self.items
            .data
            .iter()
            .filter_map(|i| i.current_period_start)
            .max()
            .or(self.current_period_start)
    }

    /// When it renews, if it does (Stripe's guidance: not when cancelling at period
    /// end, not past a scheduled `cancel_at`, not when canceled or expired; trials
    /// charge first at `trial_end`).
    pub fn next_renewal(&self) -> Option<i64> {
        if matches!(self.status.as_str(), "canceled" | "incomplete_expired") {
            return None;
        }
        if self.cancel_at_period_end {
            return None;
        }
        let end = if self.status == "trialing" {
            self.trial_end.or(self.current_period_end())
        } else {
            self.current_period_end()
        }?;
        match self.cancel_at {
            Some(cancel_at) if cancel_at <= end => None,
            _ => Some(end),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct BillingPortalSession {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub return_url: Option<String>,
    pub customer: String,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub created: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_subscription() -> serde_json::Value {
        let raw = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/stripe/fixtures3.json"
        ));
        let Ok(raw) = raw else {
            // Outside the workspace layout: use the same shape inline.
            return serde_json::json!({
                "id": "sub_1", "status": "active", "customer": "cus_1", "created": 1,
                "items": {"object": "list", "has_more": false, "url": "/v1/subscription_items",
                  "data": [{"id": "si_1", "current_period_start": 10, "current_period_end": 20,
                    "price": {"id": "price_1", "product": "prod_1", "currency": "usd"}}]}
            });
        };
        let all: serde_json::Value = serde_json::from_str(&raw).expect("fixtures are JSON");
        all["resources"]["subscription"].clone()
    }

    #[test]
    fn current_fixture_subscription_parses_with_item_level_periods() {
        let sub: Subscription =
            serde_json::from_value(fixture_subscription()).expect("fixture parses");
        assert!(sub.id.starts_with("sub_"));
        assert!(sub.current_period_end().is_some());
    }

    #[test]
    fn old_shape_reads_periods_from_the_subscription() {
        let sub: Subscription = serde_json::from_value(serde_json::json!({
            "id": "sub_1", "status": "active", "customer": "cus_1",
            "current_period_start": 100, "current_period_end": 200,
            "items": {"object": "list", "has_more": false, "url": "/v1/subscription_items?subscription=sub_1",
              "data": [{"id": "si_1", "price": {"id": "price_1", "product": {"id": "prod_1", "name": "Pro"}}}]}
        }))
        .expect("parses");
        assert_eq!(sub.current_period_end(), Some(200));
        assert_eq!(sub.next_renewal(), Some(200));
        assert_eq!(sub.items.data[0].price.product.id(), "prod_1");
    }

    #[test]
    fn renewal_rules() {
        let mut sub: Subscription = serde_json::from_value(serde_json::json!({
            "id": "sub_1", "status": "active", "customer": "cus_1",
            "items": {"object": "list", "has_more": false, "url": "/v1/subscription_items",
              "data": [
                {"id": "si_1", "current_period_start": 10, "current_period_end": 300, "price": {"id": "p", "product": "prod"}},
                {"id": "si_2", "current_period_start": 20, "current_period_end": 200, "price": {"id": "p", "product": "prod"}}
              ]}
        }))
        .expect("parses");
        assert_eq!(sub.next_renewal(), Some(200));
        sub.cancel_at = Some(150);
        assert_eq!(sub.next_renewal(), None);
        sub.cancel_at = None;
        sub.cancel_at_period_end = true;
        assert_eq!(sub.next_renewal(), None);
        sub.cancel_at_period_end = false;
        sub.status = "trialing".into();
        sub.trial_end = Some(50);
        assert_eq!(sub.next_renewal(), Some(50));
    }

    #[test]
    fn token_debug_output_hides_the_tokens() {
        let token: OAuthToken = serde_json::from_value(serde_json::json!({
            "access_token": "sk_test_abcdefghijklmnopqrstuvwxyz",
            "refresh_token": "rt_abcdefghijklmnopqrstuvwxyz",
            "stripe_user_id": "acct_1", "livemode": false, "scope": "read_write"
        }))
        .expect("parses");
        let shown = format!("{token:?}");
        assert!(!shown.contains("abcdefghijklmnop"), "{shown}");
        assert!(shown.contains("acct_1"));
    }
}
