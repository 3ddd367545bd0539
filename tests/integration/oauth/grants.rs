//! R23–R30: grants and refresh tokens.

use reqwest::StatusCode;

use super::*;
use crate::support::location;

#[tokio::test]
async fn r23_no_implicit_grant() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    for response_type in ["token", "id_token token", "code token"] {
        let params = authorize_query(
            &client.client_id,
            &Pkce::new(),
            &[("response_type", response_type)],
        );
        let response = authorize(&app, &params).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{response_type}");
        let to = location(&response);
        assert_eq!(
            query_param(&to, "error").as_deref(),
            Some("unsupported_response_type"),
            "{response_type}"
        );
        assert!(!to.contains("access_token"), "{to}");
        assert!(!to.contains('#'), "nothing in a fragment: {to}");
    }
}

#[tokio::test]
async fn r24_no_resource_owner_password_grant() {
    let app = TestApp::spawn().await;
    let (user, _) = business_with_spa(&app).await;
    let (backend, secret) = register(&app, &user, backend_form()).await;
    let answer = token(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "owner@acme.test"),
            ("password", crate::support::PASSWORD),
        ],
        Some((&backend.client_id, &secret.expect("secret"))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "unsupported_grant_type");
}

#[tokio::test]
async fn r25_client_credentials_only_for_confidential_clients() {
    let app = TestApp::spawn().await;
    let (user, spa) = business_with_spa(&app).await;
    let answer = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &spa.client_id),
        ],
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "unauthorized_client");

    let (backend, secret) = register(&app, &user, backend_form()).await;
    let answer = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "customers:read"),
        ],
        Some((&backend.client_id, &secret.expect("secret"))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.get("refresh_token").is_none());
    assert_eq!(answer.body["scope"], "customers:read");
}

#[tokio::test]
async fn r26_refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let first = spa_tokens(&app, &client).await;
    let rt1 = first.refresh_token();
    let second = refresh(&app, &client.client_id, &rt1).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let rt2 = second.refresh_token();
    assert_ne!(rt1, rt2, "rotated on use");
    let at2 = second.access_token();
    assert_eq!(api_me(&app, &at2).await.status(), StatusCode::OK);

    let reuse = refresh(&app, &client.client_id, &rt1).await;
    assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
    assert_eq!(reuse.error(), "invalid_grant");

    let after = refresh(&app, &client.client_id, &rt2).await;
    assert_eq!(after.error(), "invalid_grant", "the family is revoked");
    assert_eq!(api_me(&app, &at2).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        api_me(&app, &first.access_token()).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn reuse_of_a_refresh_token_rotated_out_long_ago_still_revokes_the_family() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let first_rt = spa_tokens(&app, &client).await.refresh_token();
    let mut latest = refresh(&app, &client.client_id, &first_rt).await;
    for _ in 0..2 {
        assert_eq!(latest.status, StatusCode::OK, "{}", latest.body);
        latest = refresh(&app, &client.client_id, &latest.refresh_token()).await;
    }
    assert_eq!(
        api_me(&app, &latest.access_token()).await.status(),
        StatusCode::OK
    );

    let reuse = refresh(&app, &client.client_id, &first_rt).await;
    assert_eq!(reuse.error(), "invalid_grant");
    let after = refresh(&app, &client.client_id, &latest.refresh_token()).await;
    assert_eq!(after.error(), "invalid_grant", "the family is revoked");
    assert_eq!(
        api_me(&app, &latest.access_token()).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_forged_refresh_token_naming_a_real_family_is_refused_and_revokes_nothing() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let tokens = spa_tokens(&app, &client).await;
    let rt = tokens.refresh_token();
    let (family_and_generation, _mac) = rt.rsplit_once('~').expect("mac");
    // Whoever learns the family id (it is the access token's `sid`) can name any
    // generation, but cannot produce its MAC.
    for generation in ["0", "1", "2"] {
        let (family, _) = family_and_generation.split_once('~').expect("generation");
        let forged = format!("{family}~{generation}~{}", "0".repeat(64));
        let answer = refresh(&app, &client.client_id, &forged).await;
        assert_eq!(answer.error(), "invalid_grant");
        assert_eq!(
            answer.body["error_description"],
            "the refresh token is invalid"
        );
    }
    let real = refresh(&app, &client.client_id, &rt).await;
    assert_eq!(real.status, StatusCode::OK, "{}", real.body);
    assert_eq!(
        api_me(&app, &real.access_token()).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn r27_refresh_tokens_are_bound_to_client_and_scope() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let mut other = spa_form();
    other.name = "Other SPA".into();
    let (other, _) = register(&app, &user, other).await;

    let pkce = Pkce::new();
    let params = authorize_query(&client.client_id, &pkce, &[("scope", "customers:read")]);
    let code = code_for(&app, &params).await;
    let tokens = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(tokens.body["scope"], "customers:read");
    let rt = tokens.refresh_token();

    let foreign = refresh(&app, &other.client_id, &rt).await;
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST);
    assert_eq!(foreign.error(), "invalid_grant");

    let wider = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &client.client_id),
            ("scope", BOTH_SCOPES),
        ],
        None,
    )
    .await;
    assert_eq!(wider.status, StatusCode::BAD_REQUEST);
    assert_eq!(wider.error(), "invalid_scope");

    // Neither refusal used the token up.
    let same = refresh(&app, &client.client_id, &rt).await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
    assert_eq!(same.body["scope"], "customers:read");
}

#[tokio::test]
async fn r28_the_grant_must_still_be_active_at_refresh() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let tokens = spa_tokens(&app, &client).await;
    let tab = app
        .get("/dashboard/oauth/")
        .await
        .text()
        .await
        .expect("body");
    let marker = "/dashboard/oauth/grants/";
    let start = tab.find(marker).expect("an authorized application") + marker.len();
    let id: String = tab[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let revoked = app
        .post_form(&format!("/dashboard/oauth/grants/{id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);

    let answer = refresh(&app, &client.client_id, &tokens.refresh_token()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_grant");
    assert_eq!(
        api_me(&app, &tokens.access_token()).await.status(),
        StatusCode::UNAUTHORIZED,
        "the access token stops at once"
    );
    let tab = app
        .get("/dashboard/oauth/")
        .await
        .text()
        .await
        .expect("body");
    assert!(tab.contains("not authorized any application"));
}

#[tokio::test]
async fn r29_refresh_tokens_expire_when_idle() {
    let app = TestApp::builder()
        .with_env("OAUTH_REFRESH_IDLE_TTL_SECONDS", "120")
        .spawn()
        .await;
    let (_, client) = business_with_spa(&app).await;
    let tokens = spa_tokens(&app, &client).await;
    app.clock.advance(100);
    let kept_alive = refresh(&app, &client.client_id, &tokens.refresh_token()).await;
    assert_eq!(
        kept_alive.status,
        StatusCode::OK,
        "used within the idle window"
    );
    app.clock.advance(121);
    let idle = refresh(&app, &client.client_id, &kept_alive.refresh_token()).await;
    assert_eq!(idle.status, StatusCode::BAD_REQUEST);
    assert_eq!(idle.error(), "invalid_grant");
}

#[tokio::test]
async fn r29_refresh_token_families_also_end_at_the_absolute_limit() {
    let app = TestApp::builder()
        .with_env("OAUTH_REFRESH_IDLE_TTL_SECONDS", "100")
        .with_env("OAUTH_REFRESH_ABSOLUTE_TTL_SECONDS", "250")
        .spawn()
        .await;
    let (_, client) = business_with_spa(&app).await;
    let mut rt = spa_tokens(&app, &client).await.refresh_token();
    for _ in 0..2 {
        app.clock.advance(90);
        let answer = refresh(&app, &client.client_id, &rt).await;
        assert_eq!(answer.status, StatusCode::OK);
        rt = answer.refresh_token();
    }
    app.clock.advance(90);
    let answer = refresh(&app, &client.client_id, &rt).await;
    assert_eq!(answer.error(), "invalid_grant", "270 s > 250 s absolute");
}

#[tokio::test]
async fn r30_refresh_tokens_are_issued_per_client_decision() {
    let app = TestApp::spawn().await;
    let user = app.logged_in_business("owner@acme.test").await;
    let mut form = spa_form();
    form.issue_refresh_tokens = false;
    let (client, _) = register(&app, &user, form).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    let answer = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.body.get("refresh_token").is_none(),
        "{}",
        answer.body
    );
    let refused = refresh(&app, &client.client_id, "anything").await;
    assert_eq!(refused.error(), "unauthorized_client");
}
