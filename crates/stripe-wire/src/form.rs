//! Stripe's form encoding: `application/x-www-form-urlencoded` with bracket notation.
//!
//! Nested objects become `parent[child]=v`, arrays of scalars `expand[]=a&expand[]=b`,
//! arrays of objects `items[0][price]=p` (indexes in sequence from 0). Booleans are
//! `true`/`false`; `null` values are left out.

use serde_json::Value;

/// Flattens a JSON object into Stripe's bracketed form pairs, in key order.
pub fn flatten(params: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(map) = params {
        for (key, value) in map {
            push(&mut out, key.clone(), value);
        }
    }
    out
}

fn push(out: &mut Vec<(String, String)>, key: String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((key, b.to_string())),
        Value::Number(n) => out.push((key, n.to_string())),
        Value::String(s) => out.push((key, s.clone())),
        Value::Object(map) => {
            for (child, v) in map {
                push(out, format!("{key}[{child}]"), v);
            }
        }
        Value::Array(items) => {
            let scalars = items
                .iter()
                .all(|v| !matches!(v, Value::Object(_) | Value::Array(_)));
            for (index, item) in items.iter().enumerate() {
                if scalars {
                    push(out, format!("{key}[]"), item);
                } else {
                    push(out, format!("{key}[{index}]"), item);
                }
            }
        }
    }
}

/// Encodes the pairs as a query string or form body.
pub fn encode(pairs: &[(String, String)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

/// The top-level parameter a bracketed key belongs to: `items[0][price]` → `items`.
pub fn top_level_name(key: &str) -> &str {
    key.split('[').next().unwrap_or(key)
}

/// Decodes a form body or query string into pairs (used by the emulator and tests).
pub fn decode(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_objects_arrays_and_indexed_items_use_brackets() {
        let pairs = flatten(&json!({
            "customer": "cus_1",
            "expand": ["data.items.data.price.product", "data.customer"],
            "items": [{"price": "price_1", "quantity": 2}],
            "flow_data": {"type": "subscription_cancel", "subscription_cancel": {"subscription": "sub_1"}},
            "stripe_user": {"email": "a@b.test"},
            "cancel_at_period_end": true,
            "skipped": null,
        }));
        let encoded = encode(&pairs);
        assert!(encoded.contains("customer=cus_1"));
        assert!(encoded
            .contains("expand%5B%5D=data.items.data.price.product&expand%5B%5D=data.customer"));
        assert!(encoded.contains("items%5B0%5D%5Bprice%5D=price_1"));
        assert!(encoded.contains("items%5B0%5D%5Bquantity%5D=2"));
        assert!(encoded.contains("flow_data%5Bsubscription_cancel%5D%5Bsubscription%5D=sub_1"));
        assert!(encoded.contains("stripe_user%5Bemail%5D=a%40b.test"));
        assert!(encoded.contains("cancel_at_period_end=true"));
        assert!(!encoded.contains("skipped"));
        assert_eq!(decode(&encoded), pairs);
    }

    #[test]
    fn top_level_names_strip_brackets() {
        assert_eq!(top_level_name("items[0][price]"), "items");
        assert_eq!(top_level_name("expand[]"), "expand");
        assert_eq!(top_level_name("customer"), "customer");
    }
}
