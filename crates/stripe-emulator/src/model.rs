//! The emulator's data: accounts connected (or not) to the one platform, their
//! customers, prices and subscriptions, OAuth codes and tokens, idempotency records,
//! and the request log tests read. Pure data and rules; the server renders it.

use std::collections::{BTreeMap, HashMap};

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};

/// The first API version that moved subscription periods onto items.
pub const BASIL: &str = "2025-03-31";
pub const DEFAULT_ACCOUNT_VERSION: &str = "2026-10-28.endive";
pub const CODE_TTL_SECONDS: i64 = 300;
pub const IDEMPOTENCY_TTL_SECONDS: i64 = 86_400;

/// `prefix_` plus `n` random alphanumerics, like Stripe's ids.
pub fn new_id(prefix: &str, n: usize) -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect();
    format!("{prefix}_{tail}")
}

/// True when `version` (e.g. `2025-03-31.basil`) puts periods on subscription items.
pub fn periods_on_items(version: &str) -> bool {
    version.get(..10).unwrap_or(version) >= BASIL
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Price {
    pub id: String,
    pub product: String,
    pub unit_amount: i64,
    pub currency: String,
    pub interval: String,
    pub nickname: String,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created: i64,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub price: String,
    pub quantity: i64,
    pub created: i64,
    pub period_start: i64,
    pub period_end: i64,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub items: Vec<Item>,
    pub created: i64,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    pub currency: String,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub business_name: String,
    pub email: String,
    pub connected: bool,
    pub connected_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub has_portal_config: bool,
    pub default_version: String,
    pub products: Vec<Product>,
    pub prices: Vec<Price>,
    pub customers: Vec<Customer>,
    pub subscriptions: Vec<Subscription>,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub account: String,
    pub scope: String,
    pub created_at: i64,
    pub used: bool,
    /// Tokens issued with this code (revoked if the code is presented again).
    pub issued: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub account: String,
    pub revoked: bool,
}

/// A request as the emulator received it (the `Authorization` value is not kept).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
    pub stripe_account: Option<String>,
    pub stripe_version: Option<String>,
    pub idempotency_key: Option<String>,
    pub authorized: bool,
    pub request_id: String,
    pub status: u16,
}

#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    /// Keys at least 24 hours old may be pruned: reusing one starts a new request.
    pub created_at: i64,
    /// `None` while the first request is still executing.
    pub response: Option<(u16, Value)>,
}

impl Account {
    /// The platform's own account: no customers.
    pub fn empty() -> Self {
        Account {
            id: String::new(),
            business_name: "Platform".into(),
            email: String::new(),
            connected: false,
            connected_at: None,
            revoked_at: None,
            has_portal_config: false,
            default_version: DEFAULT_ACCOUNT_VERSION.into(),
            products: Vec::new(),
            prices: Vec::new(),
            customers: Vec::new(),
            subscriptions: Vec::new(),
        }
    }

    pub fn new(business_name: &str, email: &str, has_portal_config: bool, now: i64) -> Self {
        let mut account = Account {
            id: new_id("acct", 16),
            business_name: business_name.to_owned(),
            email: email.to_owned(),
            connected: false,
            connected_at: None,
            revoked_at: None,
            has_portal_config,
            default_version: DEFAULT_ACCOUNT_VERSION.into(),
            products: Vec::new(),
            prices: Vec::new(),
            customers: Vec::new(),
            subscriptions: Vec::new(),
        };
        account.seed(now);
        account
    }

    /// Demo data: customers with active, trialing, past-due, canceled and
    /// cancel-at-period-end subscriptions on monthly and yearly prices, and one deleted
    /// customer.
    fn seed(&mut self, now: i64) {
        const DAY: i64 = 86_400;
        let product = Product {
            id: new_id("prod", 14),
            name: "Pro plan".into(),
            created: now - 400 * DAY,
        };
        let monthly = Price {
            id: new_id("price", 24),
            product: product.id.clone(),
            unit_amount: 2000,
            currency: "usd".into(),
            interval: "month".into(),
            nickname: "Pro monthly".into(),
            created: now - 400 * DAY,
        };
        let yearly = Price {
            id: new_id("price", 24),
            product: product.id.clone(),
            unit_amount: 20000,
            currency: "usd".into(),
            interval: "year".into(),
            nickname: "Pro yearly".into(),
            created: now - 400 * DAY,
        };
        let seeds: [(&str, &str, &str, &Price, i64, bool, bool); 6] = [
            (
                "Dave Canceled",
                "dave@example.com",
                "canceled",
                &monthly,
                90,
                false,
                false,
            ),
            (
                "Frank Deleted",
                "frank@example.com",
                "canceled",
                &monthly,
                80,
                false,
                true,
            ),
            (
                "Erin Leaving",
                "erin@example.com",
                "active",
                &yearly,
                60,
                true,
                false,
            ),
            (
                "Carol Late",
                "carol@example.com",
                "past_due",
                &monthly,
                40,
                false,
                false,
            ),
            (
                "Bob Trial",
                "bob@example.com",
                "trialing",
                &yearly,
                20,
                false,
                false,
            ),
            (
                "Alice Active",
                "alice@example.com",
                "active",
                &monthly,
                10,
                false,
                false,
            ),
        ];
        for (name, email, status, price, age_days, cancel_at_period_end, deleted) in seeds {
            let created = now - age_days * DAY;
            let customer = Customer {
                id: new_id("cus", 14),
                email: email.into(),
                name: name.into(),
                created,
                deleted,
            };
            let length = if price.interval == "year" { 365 } else { 30 } * DAY;
            let (period_start, period_end) = match status {
                "trialing" => (created, created + 30 * DAY),
                "canceled" => (created, created + length),
                _ => {
                    let mut start = created;
                    while start + length < now {
                        start += length;
                    }
                    (start, start + length)
                }
            };
            let canceled = status == "canceled";
            self.subscriptions.push(Subscription {
                id: new_id("sub", 24),
                customer: customer.id.clone(),
                status: status.into(),
                items: vec![Item {
                    id: new_id("si", 14),
                    price: price.id.clone(),
                    quantity: 1,
                    created,
                    period_start,
                    period_end,
                }],
                created,
                cancel_at_period_end,
                canceled_at: canceled.then_some(created + length),
                ended_at: canceled.then_some(created + length),
                trial_start: (status == "trialing").then_some(created),
                trial_end: (status == "trialing").then_some(created + 30 * DAY),
                currency: "usd".into(),
            });
            self.customers.push(customer);
        }
        self.products.push(product);
        self.prices.push(monthly);
        self.prices.push(yearly);
    }

    pub fn customer(&self, id: &str) -> Option<&Customer> {
        self.customers.iter().find(|c| c.id == id)
    }

    pub fn customer_json(&self, customer: &Customer) -> Value {
        if customer.deleted {
            return json!({"id": customer.id, "object": "customer", "deleted": true});
        }
        json!({
            "id": customer.id,
            "object": "customer",
            "address": null,
            "balance": 0,
            "created": customer.created,
            "currency": "usd",
            "default_source": null,
            "delinquent": false,
            "description": null,
            "email": customer.email,
            "invoice_prefix": customer.id.trim_start_matches("cus_").chars().take(8).collect::<String>().to_uppercase(),
            "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
            "livemode": false,
            "metadata": {},
            "name": customer.name,
            "phone": null,
            "preferred_locales": [],
            "shipping": null,
            "tax_exempt": "none",
            "test_clock": null
        })
    }

    fn product_json(&self, id: &str) -> Value {
        match self.products.iter().find(|p| p.id == id) {
            Some(p) => json!({
                "id": p.id, "object": "product", "active": true, "created": p.created,
                "description": null, "images": [], "livemode": false, "metadata": {},
                "name": p.name, "type": "service", "updated": p.created, "url": null
            }),
            None => Value::String(id.to_owned()),
        }
    }

    fn price_json(&self, id: &str, expand_product: bool) -> Value {
        let Some(p) = self.prices.iter().find(|p| p.id == id) else {
            return Value::String(id.to_owned());
        };
        json!({
            "id": p.id, "object": "price", "active": true, "billing_scheme": "per_unit",
            "created": p.created, "currency": p.currency, "custom_unit_amount": null,
            "livemode": false, "lookup_key": null, "metadata": {}, "nickname": p.nickname,
            "product": if expand_product { self.product_json(&p.product) } else { Value::String(p.product.clone()) },
            "recurring": {"interval": p.interval, "interval_count": 1, "meter": null, "trial_period_days": null, "usage_type": "licensed"},
            "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null,
            "type": "recurring", "unit_amount": p.unit_amount, "unit_amount_decimal": p.unit_amount.to_string()
        })
    }

    /// A subscription in the shape of `version`: periods on items from 2025-03-31 on,
    /// on the subscription before.
    pub fn subscription_json(
        &self,
        sub: &Subscription,
        version: &str,
        expand_product: bool,
        expand_customer: bool,
    ) -> Value {
        let on_items = periods_on_items(version);
        let items: Vec<Value> = sub
            .items
            .iter()
            .map(|item| {
                let mut value = json!({
                    "id": item.id, "object": "subscription_item", "created": item.created,
                    "discounts": [], "metadata": {},
                    "price": self.price_json(&item.price, expand_product),
                    "quantity": item.quantity, "subscription": sub.id, "tax_rates": []
                });
                if on_items {
                    value["current_period_start"] = json!(item.period_start);
                    value["current_period_end"] = json!(item.period_end);
                }
                value
            })
            .collect();
        let customer = match (expand_customer, self.customer(&sub.customer)) {
            (true, Some(c)) => self.customer_json(c),
            _ => Value::String(sub.customer.clone()),
        };
        let mut value = json!({
            "id": sub.id,
            "object": "subscription",
            "application": null,
            "billing_cycle_anchor": sub.items.first().map(|i| i.period_start).unwrap_or(sub.created),
            "cancel_at": null,
            "cancel_at_period_end": sub.cancel_at_period_end,
            "canceled_at": sub.canceled_at,
            "collection_method": "charge_automatically",
            "created": sub.created,
            "currency": sub.currency,
            "customer": customer,
            "default_payment_method": null,
            "discounts": [],
            "ended_at": sub.ended_at,
            "items": {
                "object": "list",
                "data": items,
                "has_more": false,
                "total_count": sub.items.len(),
                "url": format!("/v1/subscription_items?subscription={}", sub.id)
            },
            "latest_invoice": null,
            "livemode": false,
            "metadata": {},
            "pause_collection": null,
            "start_date": sub.created,
            "status": sub.status,
            "trial_end": sub.trial_end,
            "trial_start": sub.trial_start
        });
        if !on_items {
            let start = sub
                .items
                .iter()
                .map(|i| i.period_start)
                .max()
                .unwrap_or(sub.created);
            let end = sub
                .items
                .iter()
                .map(|i| i.period_end)
                .min()
                .unwrap_or(sub.created);
            value["current_period_start"] = json!(start);
            value["current_period_end"] = json!(end);
        }
        value
    }
}

/// Everything the emulator knows. Lives behind one mutex; no lock is held across an await.
pub struct Model {
    pub platform_secret_key: String,
    pub connect_client_id: String,
    pub accounts: BTreeMap<String, Account>,
    pub codes: HashMap<String, AuthCode>,
    pub access_tokens: HashMap<String, Token>,
    pub refresh_tokens: HashMap<String, Token>,
    pub idempotency: HashMap<(String, String), IdempotencyRecord>,
    pub requests: Vec<RecordedRequest>,
    pub portal_sessions: HashMap<String, (String, String, Option<String>)>,
    /// Where the emulator listens (portal session URLs point here).
    pub base_url: url::Url,
}

/// Where the emulator answers until `start` sets the address it bound.
#[expect(
    clippy::expect_used,
    reason = "a literal, parsed by every unit test that builds a Model"
)]
fn loopback_base_url() -> url::Url {
    url::Url::parse("http://127.0.0.1/").expect("a literal URL")
}

impl Model {
    pub fn new(platform_secret_key: &str, connect_client_id: &str, now: i64) -> Self {
        let mut model = Model {
            platform_secret_key: platform_secret_key.to_owned(),
            connect_client_id: connect_client_id.to_owned(),
            accounts: BTreeMap::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            idempotency: HashMap::new(),
            requests: Vec::new(),
            portal_sessions: HashMap::new(),
            base_url: loopback_base_url(),
        };
        model.add_account(Account::new(
            "Demo Goods Ltd",
            "owner@demo-goods.test",
            true,
            now,
        ));
        model.add_account(Account::new(
            "No Portal Co",
            "owner@no-portal.test",
            false,
            now,
        ));
        model
    }

    pub fn add_account(&mut self, account: Account) -> String {
        let id = account.id.clone();
        self.accounts.insert(id.clone(), account);
        id
    }

    /// Issues a single-use code for `account` (the person approved on the authorize page).
    pub fn issue_code(&mut self, account: &str, scope: &str, now: i64) -> String {
        let code = new_id("ac", 32);
        self.codes.insert(
            code.clone(),
            AuthCode {
                account: account.to_owned(),
                scope: scope.to_owned(),
                created_at: now,
                used: false,
                issued: Vec::new(),
            },
        );
        code
    }

    /// Disconnects an account from the platform: its tokens stop working.
    pub fn revoke(&mut self, account: &str, now: i64) -> bool {
        let Some(acct) = self.accounts.get_mut(account) else {
            return false;
        };
        let was = acct.connected;
        acct.connected = false;
        acct.revoked_at = Some(now);
        for token in self
            .access_tokens
            .values_mut()
            .chain(self.refresh_tokens.values_mut())
        {
            if token.account == account {
                token.revoked = true;
            }
        }
        was
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_move_to_items_from_basil_on() {
        assert!(!periods_on_items("2024-12-18.acacia"));
        assert!(!periods_on_items("2025-03-30"));
        assert!(periods_on_items("2025-03-31.basil"));
        assert!(periods_on_items("2026-10-28.endive"));
    }

    #[test]
    fn seeded_accounts_cover_every_demo_case() {
        let account = Account::new("Demo", "d@demo.test", true, 1_800_000_000);
        let statuses: Vec<&str> = account
            .subscriptions
            .iter()
            .map(|s| s.status.as_str())
            .collect();
        for wanted in ["active", "trialing", "past_due", "canceled"] {
            assert!(statuses.contains(&wanted), "{wanted} missing: {statuses:?}");
        }
        let intervals: Vec<&str> = account.prices.iter().map(|p| p.interval.as_str()).collect();
        assert_eq!(intervals, ["month", "year"]);
        assert_eq!(account.customers.iter().filter(|c| c.deleted).count(), 1);
        assert!(account.subscriptions.iter().any(|s| s.cancel_at_period_end));
        for sub in &account.subscriptions {
            let json = account.subscription_json(sub, "2026-10-28.endive", false, false);
            assert!(json.get("current_period_end").is_none());
            assert!(json["items"]["data"][0]["current_period_end"].is_i64());
            let old = account.subscription_json(sub, "2024-06-20", false, false);
            assert!(old["current_period_end"].is_i64());
            assert!(old["items"]["data"][0].get("current_period_end").is_none());
        }
    }

    #[test]
    fn ids_carry_stripes_prefixes() {
        let code = new_id("ac", 32);
        assert!(code.starts_with("ac_") && code.len() == 35);
        assert!(code[3..].chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
