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

diesel::table! {
    stripe_connect_states (id) {
        id -> BigInt,
        state_hash -> Text,
        user_id -> BigInt,
        session_binding_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    stripe_connections (id) {
        id -> BigInt,
        user_id -> BigInt,
        stripe_user_id -> Text,
        livemode -> Bool,
        scope -> Text,
        publishable_key -> Nullable<Text>,
        access_token_sealed -> Nullable<Binary>,
        refresh_token_sealed -> Nullable<Binary>,
        status -> Text,
        connected_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoked_by -> Nullable<Text>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    stripe_webhook_events (id) {
        id -> BigInt,
        event_id -> Text,
        event_type -> Text,
        account -> Nullable<Text>,
        livemode -> Bool,
        created -> BigInt,
        object_id -> Nullable<Text>,
        object_json -> Text,
        outcome -> Text,
        received_at -> BigInt,
    }
}

diesel::table! {
    customers (id) {
        id -> BigInt,
        user_id -> BigInt,
        stripe_account -> Text,
        customer_id -> Text,
        email -> Nullable<Text>,
        name -> Nullable<Text>,
        livemode -> Bool,
        deleted -> Bool,
        version -> BigInt,
        recorded_at -> BigInt,
        fetched_at -> BigInt,
    }
}

diesel::table! {
    customer_subscriptions (id) {
        id -> BigInt,
        customer_pk -> BigInt,
        subscription_id -> Text,
        status -> Text,
        renews_at -> Nullable<BigInt>,
        document -> Text,
        version -> BigInt,
    }
}

diesel::joinable!(customer_subscriptions -> customers (customer_pk));
diesel::allow_tables_to_appear_in_same_query!(customers, customer_subscriptions);

// OAuth 2 authorization server (migration 2026-11-22-000100_oauth).

diesel::table! {
    oauth_clients (id) {
        id -> BigInt,
        client_id -> Text,
        owner_user_id -> BigInt,
        name -> Text,
        client_type -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        cors_origins -> Text,
        issue_refresh_tokens -> Bool,
        always_ask_consent -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    oauth_grants (id) {
        id -> BigInt,
        client_pk -> BigInt,
        user_id -> BigInt,
        scope -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    oauth_authorization_codes (id) {
        id -> BigInt,
        code_hash -> Text,
        client_pk -> BigInt,
        user_id -> BigInt,
        grant_id -> BigInt,
        redirect_uri -> Text,
        redirect_uri_sent -> Bool,
        code_challenge -> Text,
        scope -> Text,
        issued_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        family_id -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_token_families (id) {
        id -> BigInt,
        family_id -> Text,
        client_pk -> BigInt,
        user_id -> BigInt,
        grant_id -> BigInt,
        scope -> Text,
        refresh_salt -> Nullable<Text>,
        generation -> BigInt,
        rotated_at -> BigInt,
        idle_expires_at -> BigInt,
        absolute_expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    oauth_revoked_access_tokens (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    oauth_signing_keys (id) {
        id -> BigInt,
        kid -> Text,
        algorithm -> Text,
        private_key_sealed -> Binary,
        public_key -> Binary,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(oauth_grants -> oauth_clients (client_pk));
diesel::joinable!(oauth_token_families -> oauth_grants (grant_id));

diesel::allow_tables_to_appear_in_same_query!(
    oauth_clients,
    oauth_grants,
    oauth_authorization_codes,
    oauth_token_families,
    oauth_revoked_access_tokens,
    oauth_signing_keys,
    users,
);
