//! R13–R22: PKCE and authorization codes.

use bridgekeeper::db::{oauth_authorization_codes, oauth_grants};
use reqwest::StatusCode;

use super::*;
use crate::support::location;

async fn error_redirect(app: &TestApp, params: &[(String, String)]) -> String {
    let response = authorize(app, params).await;
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "an error redirect to the client"
    );
    let to = location(&response);
    assert!(to.starts_with(SPA_REDIRECT), "{to}");
    assert!(query_param(&to, "code").is_none(), "{to}");
    query_param(&to, "error").unwrap_or_default()
}

#[tokio::test]
async fn r13_pkce_is_required_for_every_client() {
    let app = TestApp::spawn().await;
    let (user, spa) = business_with_spa(&app).await;
    let (backend, _) = register(&app, &user, backend_form()).await;
    for client_id in [&spa.client_id, &backend.client_id] {
        let mut params = authorize_query(client_id, &Pkce::new(), &[("code_challenge", "")]);
        for p in params.iter_mut() {
            if p.0 == "redirect_uri" && client_id == &backend.client_id {
                p.1 = "https://backend.test/cb".into();
            }
        }
        let response = authorize(&app, &params).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(
            query_param(&location(&response), "error").as_deref(),
            Some("invalid_request")
        );
    }
}

#[tokio::test]
async fn r14_only_s256_plain_and_missing_method_are_rejected() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let pkce = Pkce::new();
    let plain = authorize_query(
        &client.client_id,
        &pkce,
        &[("code_challenge_method", "plain")],
    );
    assert_eq!(error_redirect(&app, &plain).await, "invalid_request");
    let missing = authorize_query(&client.client_id, &pkce, &[("code_challenge_method", "")]);
    assert_eq!(error_redirect(&app, &missing).await, "invalid_request");
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
}

#[tokio::test]
async fn r15_code_verifier_must_be_43_to_128_unreserved_characters() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    for bad in [
        "a".repeat(42),
        "a".repeat(129),
        format!("{}!", "a".repeat(43)),
    ] {
        let pkce = Pkce {
            challenge: pkce::s256_challenge(&bad),
            verifier: bad.clone(),
        };
        let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
        let answer = exchange(&app, &client.client_id, &code, &bad).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{} chars",
            bad.len()
        );
        assert_eq!(answer.error(), "invalid_request");
    }
    let good = "A-._~z9".repeat(18) + "ab"; // 128 characters
    assert_eq!(good.len(), 128);
    let pkce = Pkce {
        challenge: pkce::s256_challenge(&good),
        verifier: good.clone(),
    };
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    assert_eq!(
        exchange(&app, &client.client_id, &code, &good).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn r16_the_verifier_must_match_the_challenge() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    let wrong = Pkce::new().verifier;
    let answer = exchange(&app, &client.client_id, &code, &wrong).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_grant");
    let missing = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SPA_REDIRECT),
            ("client_id", &client.client_id),
        ],
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    // A failed attempt does not burn the code for the rightful holder.
    let right = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(right.status, StatusCode::OK);
}

#[tokio::test]
async fn r17_a_code_without_a_challenge_is_never_redeemed_with_a_verifier() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    // A grant exists after one ordinary consent.
    spa_tokens(&app, &client).await;
    // Such a code cannot be made through the endpoint (R13); plant one directly.
    let code = "planted-code-without-challenge-0123456789abcdef";
    let code_hash = app.state.credential_hasher.hash(code);
    let now = app.clock_now();
    let (client_pk, user_id) = (client.pk, user.id);
    app.state
        .db
        .write(move |tx| {
            let grant = oauth_grants::find_active(tx.conn, client_pk, user_id)?.expect("grant");
            oauth_authorization_codes::insert(
                tx.conn,
                &oauth_authorization_codes::NewOAuthAuthorizationCode {
                    code_hash: &code_hash,
                    client_pk,
                    user_id,
                    grant_id: grant.id,
                    redirect_uri: SPA_REDIRECT,
                    redirect_uri_sent: true,
                    code_challenge: "",
                    scope: "customers:read",
                    issued_at: now,
                    expires_at: now + 60,
                },
            )?;
            Ok::<_, bridgekeeper::db::DbError>(())
        })
        .await
        .expect("planted");
    let answer = exchange(&app, &client.client_id, code, &Pkce::new().verifier).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_grant");
}

#[tokio::test]
async fn r18_metadata_lists_code_challenge_methods() {
    let app = TestApp::spawn().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK);
        let metadata: Value = response.json().await.expect("json");
        assert_eq!(
            metadata["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
    }
}

#[tokio::test]
async fn r19_codes_expire_after_60_seconds() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    app.clock.advance(61);
    let answer = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_grant");

    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    app.clock.advance(59);
    assert_eq!(
        exchange(&app, &client.client_id, &code, &pkce.verifier)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn r20_a_code_is_bound_to_its_client_and_redirect_uri() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let mut other_form = spa_form();
    other_form.name = "Other SPA".into();
    let (other, _) = register(&app, &user, other_form).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;

    let stolen = exchange(&app, &other.client_id, &code, &pkce.verifier).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    assert_eq!(stolen.error(), "invalid_grant");

    let elsewhere = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.test/other"),
            ("client_id", &client.client_id),
            ("code_verifier", &pkce.verifier),
        ],
        None,
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);
    assert_eq!(elsewhere.error(), "invalid_grant");

    let rightful = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(rightful.status, StatusCode::OK, "{}", rightful.body);
}

#[tokio::test]
async fn r21_a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let (backend, secret) = register(&app, &user, backend_form()).await;
    let secret = secret.expect("secret");
    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    let first = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(first.status, StatusCode::OK);
    let (access, refresh_token) = (first.access_token(), first.refresh_token());
    assert_eq!(api_me(&app, &access).await.status(), StatusCode::OK);

    let second = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(second.error(), "invalid_grant");

    assert_eq!(
        api_me(&app, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let basic = (backend.client_id.as_str(), secret.as_str());
    assert_eq!(introspect(&app, &access, basic).await["active"], false);
    assert_eq!(
        introspect(&app, &refresh_token, basic).await["active"],
        false
    );
    let refreshed = refresh(&app, &client.client_id, &refresh_token).await;
    assert_eq!(refreshed.error(), "invalid_grant");
}

#[tokio::test]
async fn r22_redirect_uri_in_the_token_request_is_accepted_and_enforced() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    let without = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client.client_id),
            ("code_verifier", &pkce.verifier),
        ],
        None,
    )
    .await;
    assert_eq!(without.status, StatusCode::BAD_REQUEST);
    assert_eq!(without.error(), "invalid_request");
    let with = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(with.status, StatusCode::OK);

    // When the authorization request left it out (one registered URI), the token
    // request may leave it out too, or repeat the registered one.
    let pkce = Pkce::new();
    let params = authorize_query(&client.client_id, &pkce, &[("redirect_uri", "")]);
    let code = code_for(&app, &params).await;
    let answer = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client.client_id),
            ("code_verifier", &pkce.verifier),
        ],
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}
