//! The flows end to end: consent memory, the resource API, introspection, revocation,
//! discovery, signing keys, CORS, clean-up and the audit trail.

use bridgekeeper::oauth::{cleanup, keys};
use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::support::location;

#[tokio::test]
async fn a_spa_gets_tokens_with_pkce_and_calls_the_api_as_the_business() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let pkce = Pkce::new();
    let params = authorize_query(&client.client_id, &pkce, &[("scope", "customers:read")]);
    let consent = authorize(&app, &params).await;
    assert_eq!(consent.status(), StatusCode::OK);
    let page = consent.text().await.expect("body");
    assert!(
        page.contains("Acme SPA"),
        "the consent page names the client"
    );
    assert!(page.contains("customers:read"), "and the scopes");
    assert!(!page.contains("customers:write"));

    let approved = decide(&app, &params, "approve").await;
    let to = location(&approved);
    assert!(to.starts_with("https://app.test/cb?code="), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-123"));
    let code = query_param(&to, "code").expect("code");
    let tokens = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(tokens.status, StatusCode::OK);
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 900);
    assert_eq!(tokens.body["scope"], "customers:read");

    let access = tokens.access_token();
    let header = jwt_header(&access);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    let claims = jwt_claims(&access);
    for claim in [
        "iss",
        "sub",
        "aud",
        "client_id",
        "scope",
        "jti",
        "iat",
        "exp",
    ] {
        assert!(
            claims.get(claim).is_some(),
            "claim {claim} missing: {claims}"
        );
    }
    assert_eq!(claims["client_id"], client.client_id);

    let me = api_me(&app, &access).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["business"]["id"], user.id.0);
    assert_eq!(me["business"]["business_name"], "Acme Inc");
    assert_eq!(me["client_id"], client.client_id);
    assert_eq!(me["scopes"], json!(["customers:read"]));
}

#[tokio::test]
async fn consent_is_remembered_per_client_and_scope_set_unless_the_client_always_asks() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let read_only = authorize_query(
        &client.client_id,
        &Pkce::new(),
        &[("scope", "customers:read")],
    );
    assert_eq!(authorize(&app, &read_only).await.status(), StatusCode::OK);
    decide(&app, &read_only, "approve").await;
    assert_eq!(
        authorize(&app, &read_only).await.status(),
        StatusCode::FOUND,
        "remembered"
    );
    let wider = authorize_query(&client.client_id, &Pkce::new(), &[("scope", BOTH_SCOPES)]);
    assert_eq!(
        authorize(&app, &wider).await.status(),
        StatusCode::OK,
        "a wider set asks again"
    );

    let mut form = spa_form();
    form.name = "Careful SPA".into();
    form.always_ask_consent = true;
    let (careful, _) = register(&app, &user, form).await;
    let params = authorize_query(&careful.client_id, &Pkce::new(), &[]);
    decide(&app, &params, "approve").await;
    assert_eq!(
        authorize(&app, &params).await.status(),
        StatusCode::OK,
        "asks every time"
    );
}

#[tokio::test]
async fn the_api_answers_rfc6750_challenges_as_json() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let missing = reqwest::Client::new()
        .get(app.url("/api/me/"))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"bridgekeeper\""
    );
    let body: Value = missing.json().await.expect("json");
    assert!(body["message"].is_string());

    let garbage = api_me(&app, "not-a-token").await;
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
    let body: Value = garbage.json().await.expect("json");
    assert_eq!(body["error"], "invalid_token");

    let pkce = Pkce::new();
    let params = authorize_query(&client.client_id, &pkce, &[("scope", "customers:write")]);
    let code = code_for(&app, &params).await;
    let write_only = exchange(&app, &client.client_id, &code, &pkce.verifier)
        .await
        .access_token();
    let forbidden = api_me(&app, &write_only).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let challenge = forbidden.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    let body: Value = forbidden.json().await.expect("json");
    assert_eq!(body["error"], "insufficient_scope");

    let access = spa_tokens(&app, &client).await.access_token();
    app.clock.advance(901);
    let expired = api_me(&app, &access).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let body: Value = expired.json().await.expect("json");
    assert!(body["message"]
        .as_str()
        .expect("message")
        .contains("expired"));
}

#[tokio::test]
async fn introspection_is_for_confidential_clients_of_the_same_business() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let (backend, secret) = register(&app, &user, backend_form()).await;
    let secret = secret.expect("secret");
    let tokens = spa_tokens(&app, &client).await;
    let basic = (backend.client_id.as_str(), secret.as_str());

    let active = introspect(&app, &tokens.access_token(), basic).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], client.client_id);
    assert_eq!(active["sub"], format!("user:{}", user.id));
    assert_eq!(active["token_type"], "Bearer");
    let rt = introspect(&app, &tokens.refresh_token(), basic).await;
    assert_eq!(rt["active"], true);
    assert_eq!(rt["token_type"], "refresh_token");
    assert_eq!(
        introspect(&app, "garbage", basic).await,
        json!({"active": false})
    );

    let public = post_form_endpoint(
        &app,
        "/o/introspect",
        &[
            ("token", &tokens.access_token()),
            ("client_id", &client.client_id),
        ],
        None,
    )
    .await;
    assert_eq!(public.status, StatusCode::UNAUTHORIZED);
    let wrong = post_form_endpoint(
        &app,
        "/o/introspect/",
        &[("token", &tokens.access_token())],
        Some((&backend.client_id, "wrong")),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    // Another business's back end learns nothing.
    let other = app.create_account("other@rival.test", false).await;
    let (rival, rival_secret) = register(&app, &other, backend_form()).await;
    let rival_secret = rival_secret.expect("secret");
    let seen = introspect(
        &app,
        &tokens.access_token(),
        (&rival.client_id, &rival_secret),
    )
    .await;
    assert_eq!(seen, json!({"active": false}));
}

#[tokio::test]
async fn revocation_stops_tokens_at_once_and_only_for_their_own_client() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let mut other = spa_form();
    other.name = "Other".into();
    let (other, _) = register(&app, &user, other).await;
    let tokens = spa_tokens(&app, &client).await;
    let access = tokens.access_token();

    let foreign = revoke(&app, &other.client_id, &access).await;
    assert_eq!(
        foreign.status,
        StatusCode::OK,
        "RFC 7009: no information leaks"
    );
    assert_eq!(
        api_me(&app, &access).await.status(),
        StatusCode::OK,
        "not revoked by a stranger"
    );

    let revoked = post_form_endpoint(
        &app,
        "/o/revoke_token",
        &[
            ("token", &access),
            ("token_type_hint", "access_token"),
            ("client_id", &client.client_id),
        ],
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(
        api_me(&app, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let rt = tokens.refresh_token();
    let fresh = refresh(&app, &client.client_id, &rt).await;
    assert_eq!(fresh.status, StatusCode::OK);
    let revoked = revoke(&app, &client.client_id, &fresh.refresh_token()).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(
        api_me(&app, &fresh.access_token()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &client.client_id, &fresh.refresh_token())
            .await
            .error(),
        "invalid_grant"
    );
    let unknown = revoke(&app, &client.client_id, "never-issued").await;
    assert_eq!(unknown.status, StatusCode::OK);
}

#[tokio::test]
async fn metadata_and_jwks_describe_the_server_and_verify_its_tokens() {
    let app = TestApp::spawn().await;
    let issuer = app.state.oauth.issuer.clone();
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(metadata["issuer"], issuer);
    assert_eq!(metadata["token_endpoint"], format!("{issuer}/o/token/"));
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{issuer}/o/authorize/")
    );
    assert_eq!(metadata["jwks_uri"], format!("{issuer}/o/jwks/"));
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert!(!metadata["grant_types_supported"]
        .to_string()
        .contains("password"));

    let (_, client) = business_with_spa(&app).await;
    let access = spa_tokens(&app, &client).await.access_token();
    let kid = jwt_header(&access)["kid"].as_str().expect("kid").to_owned();
    for path in ["/o/jwks/", "/o/jwks"] {
        let jwks: Value = app.get(path).await.json().await.expect("json");
        let key = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == kid)
            .expect("the signing key is published")
            .clone();
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert!(key.get("d").is_none(), "never the private part");
        let decoding = jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().expect("x"))
            .expect("key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_audience(&[format!("{issuer}/api/")]);
        validation.set_issuer(std::slice::from_ref(&issuer));
        jsonwebtoken::decode::<Value>(&access, &decoding, &validation)
            .expect("a third party can verify our tokens with the JWKS");
    }
}

#[tokio::test]
async fn es256_signing_is_available() {
    let app = TestApp::builder()
        .with_env("OAUTH_SIGNING_ALGORITHM", "ES256")
        .spawn()
        .await;
    let (_, client) = business_with_spa(&app).await;
    let access = spa_tokens(&app, &client).await.access_token();
    assert_eq!(jwt_header(&access)["alg"], "ES256");
    assert_eq!(api_me(&app, &access).await.status(), StatusCode::OK);
    let jwks: Value = app.get("/o/jwks/").await.json().await.expect("json");
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
}

#[tokio::test]
async fn rotated_keys_stay_published_until_their_tokens_expire() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let old_token = spa_tokens(&app, &client).await.access_token();
    let old_kid = jwt_header(&old_token)["kid"]
        .as_str()
        .expect("kid")
        .to_owned();

    let secret_box = app.state.secret_box.clone();
    let now = app.clock_now();
    let oauth = app.state.oauth.clone();
    let new_kid = app
        .state
        .db
        .write(move |tx| {
            let kid = keys::rotate(
                tx.conn,
                &secret_box,
                bridgekeeper::config::SigningAlgorithm::EdDsa,
                now,
            )?;
            oauth.keys.reload(tx.conn, now, 900)?;
            Ok::<_, keys::KeyError>(kid)
        })
        .await
        .expect("rotated");
    assert_ne!(new_kid, old_kid);
    let new_token = spa_tokens(&app, &client).await.access_token();
    assert_eq!(jwt_header(&new_token)["kid"], new_kid);
    assert_eq!(
        api_me(&app, &old_token).await.status(),
        StatusCode::OK,
        "old tokens still verify"
    );
    let kids = |jwks: Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
            .collect()
    };
    let published = kids(app.get("/o/jwks/").await.json().await.expect("json"));
    assert!(published.contains(&old_kid) && published.contains(&new_kid));

    app.clock.advance(900 + keys::RETIREMENT_MARGIN_SECONDS + 1);
    cleanup::run_once(&app.state.db, app.state.oauth.clone(), app.clock_now())
        .await
        .expect("cleanup");
    let published = kids(app.get("/o/jwks/").await.json().await.expect("json"));
    assert_eq!(published, vec![new_kid]);
}

#[tokio::test]
async fn the_cleanup_removes_expired_codes_sessions_and_revocations() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let tokens = spa_tokens(&app, &client).await;
    revoke(&app, &client.client_id, &tokens.access_token()).await;
    code_for(&app, &authorize_query(&client.client_id, &Pkce::new(), &[])).await;
    let nothing = cleanup::run_once(&app.state.db, app.state.oauth.clone(), app.clock_now())
        .await
        .expect("cleanup");
    assert_eq!(nothing, cleanup::Removed::default());
    app.clock.advance(91 * 86400);
    let removed = cleanup::run_once(&app.state.db, app.state.oauth.clone(), app.clock_now())
        .await
        .expect("cleanup");
    assert_eq!(removed.token_families, 1);
    assert_eq!(removed.revoked_access_tokens, 1);
    assert_eq!(removed.codes, 2);
}

#[tokio::test]
async fn issuance_and_revocation_are_in_the_audit_log_without_secrets() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let tokens = spa_tokens(&app, &client).await;
    refresh(&app, &client.client_id, &tokens.refresh_token()).await;
    revoke(&app, &client.client_id, &tokens.access_token()).await;
    let events = bridgekeeper::audit::recent(&app.state.db, None, 100)
        .await
        .expect("events");
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "oauth.client_registered",
        "oauth.consent_granted",
        "oauth.code_issued",
        "oauth.token_issued",
        "oauth.token_refreshed",
        "oauth.token_revoked",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let all_details: String = events.iter().map(|e| e.detail.clone()).collect();
    assert!(!all_details.contains(&tokens.refresh_token()));
    assert!(!all_details.contains(&tokens.access_token()));
}

#[tokio::test]
async fn the_token_endpoint_answers_cors_only_for_the_clients_origins() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, app.url("/o/token/"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let ok = preflight(SPA_ORIGIN).await.expect("OPTIONS");
    assert_eq!(ok.headers()["access-control-allow-origin"], SPA_ORIGIN);
    let evil = preflight("https://evil.test").await.expect("OPTIONS");
    assert!(evil.headers().get("access-control-allow-origin").is_none());

    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", SPA_REDIRECT),
        ("client_id", client.client_id.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let from_evil = reqwest::Client::new()
        .post(app.url("/o/token/"))
        .header("Origin", "https://evil.test")
        .form(&form)
        .send()
        .await
        .expect("POST");
    assert!(from_evil
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let error = reqwest::Client::new()
        .post(app.url("/o/token/"))
        .header("Origin", SPA_ORIGIN)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &client.client_id),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(
        error.headers()["access-control-allow-origin"],
        SPA_ORIGIN,
        "SPAs can read errors"
    );
}

#[tokio::test]
async fn malformed_token_requests_get_rfc_errors_never_500() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let http = reqwest::Client::new();
    let form = Some("application/x-www-form-urlencoded");
    let cases: Vec<(&str, Option<&str>, Vec<u8>, &str)> = vec![
        (
            "json body",
            Some("application/json"),
            b"{\"grant_type\":\"client_credentials\"}".to_vec(),
            "invalid_request",
        ),
        (
            "no content type",
            None,
            b"grant_type=authorization_code".to_vec(),
            "invalid_request",
        ),
        (
            "bad encoding",
            form,
            b"grant_type=%ZZ&code=\xff".to_vec(),
            "unsupported_grant_type",
        ),
        (
            "repeated parameter",
            form,
            format!(
                "grant_type=authorization_code&code=a&code=b&client_id={}",
                client.client_id
            )
            .into_bytes(),
            "invalid_request",
        ),
        (
            "missing grant_type",
            form,
            format!("client_id={}", client.client_id).into_bytes(),
            "invalid_request",
        ),
    ];
    for (what, content_type, body, expected) in cases {
        let mut request = http.post(app.url("/o/token")).body(body);
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        let response = request.send().await.expect("POST");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], expected, "{what}");
        assert!(body["error_description"].is_string(), "{what}");
    }
    let basic_garbage = http
        .post(app.url("/o/token/"))
        .header("Authorization", "Basic !!!notbase64")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("POST");
    assert_eq!(basic_garbage.status(), StatusCode::UNAUTHORIZED);
}
