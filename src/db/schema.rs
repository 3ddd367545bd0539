//! The tables, written once for both backends: only types both share (BigInt, Text,
//! Bool, Binary). Times are Unix seconds in BIGINT columns.

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        business_name -> Text,
        is_admin -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    auth_failures (id) {
        id -> BigInt,
        scope -> Text,
        subject -> Text,
        occurred_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        occurred_at -> BigInt,
        actor_user_id -> Nullable<BigInt>,
        actor_label -> Nullable<Text>,
        ip -> Nullable<Text>,
        action -> Text,
        detail -> Text,
    }
}

diesel::table! {
    stripe_platform_settings (id) {
        id -> BigInt,
        secret_key_sealed -> Binary,
        secret_key_hint -> Text,
        publishable_key -> Text,
        connect_client_id -> Text,
        livemode -> Bool,
        updated_at -> BigInt,
        updated_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    stripe_webhook_secrets (id) {
        id -> BigInt,
        secret_sealed -> Binary,
        secret_hint -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(audit_events -> users (actor_user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    auth_failures,
    audit_events,
    stripe_platform_settings,
    stripe_webhook_secrets,
);
