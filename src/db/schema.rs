// @generated automatically by Diesel CLI.

diesel::table! {
    audit_events (id) {
        id -> Int8,
        occurred_at -> Int8,
        actor_user_id -> Nullable<Int8>,
        actor_label -> Nullable<Text>,
        ip -> Nullable<Text>,
        action -> Text,
        detail -> Text,
        repeats -> Int8,
        repeat_key -> Nullable<Text>,
    }
}

diesel::table! {
    auth_failures (id) {
        id -> Int8,
        scope -> Text,
        subject -> Text,
        occurred_at -> Int8,
    }
}

diesel::table! {
    customer_subscriptions (id) {
        id -> Int8,
        customer_pk -> Int8,
        subscription_id -> Text,
        status -> Text,
        renews_at -> Nullable<Int8>,
        document -> Text,
        version -> Int8,
    }
}

diesel::table! {
    customers (id) {
        id -> Int8,
        user_id -> Int8,
        stripe_account -> Text,
        customer_id -> Text,
        email -> Nullable<Text>,
        name -> Nullable<Text>,
        livemode -> Bool,
        deleted -> Bool,
        version -> Int8,
        recorded_at -> Int8,
        fetched_at -> Int8,
        connection_id -> Nullable<Int8>,
    }
}

diesel::table! {
    oauth_authorization_codes (id) {
        id -> Int8,
        code_hash -> Text,
        client_pk -> Int8,
        user_id -> Int8,
        grant_id -> Int8,
        redirect_uri -> Text,
        redirect_uri_sent -> Bool,
        code_challenge -> Text,
        scope -> Text,
        issued_at -> Int8,
        expires_at -> Int8,
        used_at -> Nullable<Int8>,
        family_id -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_clients (id) {
        id -> Int8,
        client_id -> Text,
        owner_user_id -> Int8,
        name -> Text,
        client_type -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        cors_origins -> Text,
        issue_refresh_tokens -> Bool,
        always_ask_consent -> Bool,
        created_at -> Int8,
    }
}

diesel::table! {
    oauth_grants (id) {
        id -> Int8,
        client_pk -> Int8,
        user_id -> Int8,
        scope -> Text,
        created_at -> Int8,
        updated_at -> Int8,
        revoked_at -> Nullable<Int8>,
    }
}

diesel::table! {
    oauth_revoked_access_tokens (jti) {
        jti -> Text,
        expires_at -> Int8,
    }
}

diesel::table! {
    oauth_signing_keys (id) {
        id -> Int8,
        kid -> Text,
        algorithm -> Text,
        private_key_sealed -> Bytea,
        public_key -> Bytea,
        created_at -> Int8,
        retired_at -> Nullable<Int8>,
    }
}

diesel::table! {
    oauth_token_families (id) {
        id -> Int8,
        family_id -> Text,
        client_pk -> Int8,
        user_id -> Int8,
        grant_id -> Int8,
        scope -> Text,
        refresh_salt -> Nullable<Text>,
        generation -> Int8,
        rotated_at -> Int8,
        idle_expires_at -> Int8,
        absolute_expires_at -> Int8,
        revoked_at -> Nullable<Int8>,
    }
}

diesel::table! {
    stripe_connect_states (id) {
        id -> Int8,
        state_hash -> Text,
        user_id -> Int8,
        session_binding_hash -> Text,
        created_at -> Int8,
        expires_at -> Int8,
        used_at -> Nullable<Int8>,
    }
}

diesel::table! {
    stripe_connections (id) {
        id -> Int8,
        user_id -> Int8,
        stripe_user_id -> Text,
        livemode -> Bool,
        scope -> Text,
        publishable_key -> Nullable<Text>,
        access_token_sealed -> Nullable<Bytea>,
        refresh_token_sealed -> Nullable<Bytea>,
        status -> Text,
        connected_at -> Int8,
        revoked_at -> Nullable<Int8>,
        revoked_by -> Nullable<Text>,
        updated_at -> Int8,
    }
}

diesel::table! {
    stripe_platform_settings (id) {
        id -> Int8,
        secret_key_sealed -> Bytea,
        secret_key_hint -> Text,
        publishable_key -> Text,
        connect_client_id -> Text,
        livemode -> Bool,
        updated_at -> Int8,
        updated_by -> Nullable<Int8>,
    }
}

diesel::table! {
    stripe_webhook_events (id) {
        id -> Int8,
        event_id -> Text,
        event_type -> Text,
        account -> Nullable<Text>,
        livemode -> Bool,
        created -> Int8,
        object_id -> Nullable<Text>,
        object_json -> Text,
        outcome -> Text,
        received_at -> Int8,
    }
}

diesel::table! {
    stripe_webhook_secrets (id) {
        id -> Int8,
        secret_sealed -> Bytea,
        secret_hint -> Text,
        created_at -> Int8,
    }
}

diesel::table! {
    user_sessions (id) {
        id -> Int8,
        token_hash -> Text,
        user_id -> Int8,
        created_at -> Int8,
        last_seen_at -> Int8,
        expires_at -> Int8,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        email -> Text,
        password_hash -> Text,
        business_name -> Text,
        is_admin -> Bool,
        created_at -> Int8,
    }
}

diesel::joinable!(audit_events -> users (actor_user_id));
diesel::joinable!(customer_subscriptions -> customers (customer_pk));
diesel::joinable!(customers -> stripe_connections (connection_id));
diesel::joinable!(customers -> users (user_id));
diesel::joinable!(oauth_authorization_codes -> oauth_grants (grant_id));
diesel::joinable!(oauth_clients -> users (owner_user_id));
diesel::joinable!(oauth_grants -> oauth_clients (client_pk));
diesel::joinable!(oauth_grants -> users (user_id));
diesel::joinable!(oauth_token_families -> oauth_grants (grant_id));
diesel::joinable!(stripe_connect_states -> users (user_id));
diesel::joinable!(stripe_connections -> users (user_id));
diesel::joinable!(stripe_platform_settings -> users (updated_by));
diesel::joinable!(user_sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    auth_failures,
    customer_subscriptions,
    customers,
    oauth_authorization_codes,
    oauth_clients,
    oauth_grants,
    oauth_revoked_access_tokens,
    oauth_signing_keys,
    oauth_token_families,
    stripe_connect_states,
    stripe_connections,
    stripe_platform_settings,
    stripe_webhook_events,
    stripe_webhook_secrets,
    user_sessions,
    users,
);
