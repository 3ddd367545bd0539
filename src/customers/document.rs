//! The customer document the API serves, built from Stripe's objects. Times are Unix
//! seconds here; the HTTP layer writes them as RFC 3339.

use serde::{Deserialize, Serialize};

use crate::stripe::types::{Expandable, Subscription, SubscriptionItem};

/// One subscription as stored in the cache and served by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    pub id: String,
    pub status: String,
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub trial_end: Option<i64>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    /// When it next renews; `None` when it will not (canceled, cancelling at period end,
    /// or a scheduled cancellation first).
    pub renews_at: Option<i64>,
    pub items: Vec<ItemState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemState {
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

impl SubscriptionState {
    /// Reads either API shape: period fields on items (2025-03-31.basil and later) or on
    /// the subscription (earlier versions).
    pub fn from_stripe(subscription: &Subscription) -> Self {
        Self {
            id: subscription.id.clone(),
            status: subscription.status.clone(),
            cancel_at_period_end: subscription.cancel_at_period_end,
            cancel_at: subscription.cancel_at,
            canceled_at: subscription.canceled_at,
            trial_end: subscription.trial_end,
            current_period_start: subscription.current_period_start(),
            current_period_end: subscription.current_period_end(),
            renews_at: subscription.next_renewal(),
            items: subscription
                .items
                .data
                .iter()
                .map(ItemState::from_stripe)
                .collect(),
        }
    }
}

impl ItemState {
    fn from_stripe(item: &SubscriptionItem) -> Self {
        let price = &item.price;
        Self {
            price_id: price.id.clone(),
            product: price.product.id().to_owned(),
            product_name: match &price.product {
                Expandable::Object(product) => product.name.clone(),
                Expandable::Id(_) => None,
            },
            nickname: price.nickname.clone(),
            unit_amount: price.unit_amount,
            currency: price.currency.clone(),
            interval: price.recurring.as_ref().map(|r| r.interval.clone()),
            interval_count: price.recurring.as_ref().map(|r| r.interval_count),
            quantity: item.quantity,
        }
    }
}

/// A recorded customer with its subscriptions, as the API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerDocument {
    pub customer_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub livemode: bool,
    pub subscriptions: Vec<SubscriptionState>,
    /// Only when a portal session was just created for this answer.
    pub portal_url: Option<String>,
    /// When the full state was last read from Stripe (webhooks may have updated it since).
    pub fetched_at: i64,
    /// True when the copy may be out of date: older than the refresh age (or than its
    /// connection) and not re-read from Stripe, or detached.
    pub stale: bool,
    /// True when the connection the customer was recorded under has ended: the copy is
    /// as it was then, and nothing more is read for it.
    pub detached: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(json: serde_json::Value) -> Subscription {
        serde_json::from_value(json).expect("a subscription")
    }

    fn item(period: Option<(i64, i64)>, product: serde_json::Value) -> serde_json::Value {
        let mut item = serde_json::json!({
            "id": "si_1", "object": "subscription_item", "quantity": 3,
            "price": {"id": "price_monthly", "object": "price", "currency": "eur",
                      "unit_amount": 1500, "nickname": "Pro monthly", "product": product,
                      "recurring": {"interval": "month", "interval_count": 1}}
        });
        if let Some((start, end)) = period {
            item["current_period_start"] = start.into();
            item["current_period_end"] = end.into();
        }
        item
    }

    fn base(items: Vec<serde_json::Value>) -> serde_json::Value {
        serde_json::json!({
            "id": "sub_1", "object": "subscription", "status": "active", "customer": "cus_1",
            "cancel_at_period_end": false, "cancel_at": null, "canceled_at": null,
            "trial_end": null, "created": 1_700_000_000,
            "items": {"object": "list", "data": items, "has_more": false, "url": "/v1/subscription_items"}
        })
    }

    #[test]
    fn renewal_comes_from_items_for_basil_and_later() {
        let json = base(vec![item(
            Some((1_700_000_000, 1_702_592_000)),
            "prod_1".into(),
        )]);
        let state = SubscriptionState::from_stripe(&subscription(json));
        assert_eq!(state.current_period_start, Some(1_700_000_000));
        assert_eq!(state.current_period_end, Some(1_702_592_000));
        assert_eq!(state.renews_at, Some(1_702_592_000));
        let item = &state.items[0];
        assert_eq!(item.price_id, "price_monthly");
        assert_eq!(item.product, "prod_1");
        assert_eq!(item.unit_amount, Some(1500));
        assert_eq!(item.interval.as_deref(), Some("month"));
        assert_eq!(item.quantity, Some(3));
    }

    #[test]
    fn renewal_comes_from_the_subscription_before_basil() {
        let mut json = base(vec![item(None, "prod_1".into())]);
        json["current_period_start"] = 1_690_000_000.into();
        json["current_period_end"] = 1_692_678_400.into();
        let state = SubscriptionState::from_stripe(&subscription(json));
        assert_eq!(state.current_period_end, Some(1_692_678_400));
        assert_eq!(state.renews_at, Some(1_692_678_400));
    }

    #[test]
    fn a_subscription_cancelling_at_period_end_does_not_renew() {
        let mut json = base(vec![item(Some((1, 100)), "prod_1".into())]);
        json["cancel_at_period_end"] = true.into();
        assert_eq!(
            SubscriptionState::from_stripe(&subscription(json)).renews_at,
            None
        );
    }

    #[test]
    fn an_expanded_product_gives_its_name() {
        let product =
            serde_json::json!({"id": "prod_1", "object": "product", "name": "Pro", "active": true});
        let json = base(vec![item(Some((1, 100)), product)]);
        let state = SubscriptionState::from_stripe(&subscription(json));
        assert_eq!(state.items[0].product, "prod_1");
        assert_eq!(state.items[0].product_name.as_deref(), Some("Pro"));
    }
}
