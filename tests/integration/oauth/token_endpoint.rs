//! R31–R37: the token endpoint, credentials and the resource API.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bridgekeeper::db::oauth_authorization_codes;
use bridgekeeper::oauth::access_token::{self, Claims};
use reqwest::StatusCode;

use super::*;

fn assert_no_store(headers: &reqwest::header::HeaderMap, what: &str) {
    assert_eq!(headers["cache-control"], "no-store", "{what}");
}

#[tokio::test]
async fn r31_responses_carrying_tokens_or_secrets_are_not_stored() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let tokens = spa_tokens(&app, &client).await;
    assert_no_store(&tokens.headers, "token response");
    assert_eq!(tokens.headers["pragma"], "no-cache");
    let error = refresh(&app, &client.client_id, "bogus").await;
    assert_no_store(&error.headers, "token error");

    let created = app
        .post_form(
            "/dashboard/oauth/clients/",
            &[
                ("name", "Back end"),
                ("client_type", "confidential"),
                ("redirect_uris", "https://backend.test/cb"),
                ("grant_types", "client_credentials"),
                ("scopes", "customers:read"),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    assert_no_store(created.headers(), "secret page");
    let page = created.text().await.expect("body");
    let client_id = between(&page, "<code id=\"client-id\">", "</code>");
    assert!(page.contains("id=\"client-secret\""));
    let rotated = app
        .post_form(
            &format!("/dashboard/oauth/clients/{client_id}/rotate-secret"),
            &[],
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_no_store(rotated.headers(), "rotated secret page");
}

pub fn between(haystack: &str, start: &str, end: &str) -> String {
    let from = haystack.find(start).expect("start marker") + start.len();
    let to = haystack[from..].find(end).expect("end marker") + from;
    haystack[from..to].to_owned()
}

#[tokio::test]
async fn r32_confidential_clients_must_authenticate_and_guessing_is_throttled() {
    let app = TestApp::builder()
        .with_env("OAUTH_MAX_CLIENT_AUTH_FAILURES", "3")
        .spawn()
        .await;
    let user = app.create_account("owner@acme.test", false).await;
    let (backend, secret) = register(&app, &user, backend_form()).await;
    let secret = secret.expect("secret");
    let cc = [("grant_type", "client_credentials")];

    let no_secret = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &backend.client_id),
        ],
        None,
    )
    .await;
    assert_eq!(no_secret.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_secret.error(), "invalid_client");

    for _ in 0..3 {
        let wrong = token(&app, &cc, Some((&backend.client_id, "wrong-secret"))).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.error(), "invalid_client");
        let challenge = wrong.headers["www-authenticate"].to_str().expect("ascii");
        assert!(challenge.starts_with("Basic realm="), "{challenge}");
    }
    let locked = token(&app, &cc, Some((&backend.client_id, &secret))).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    assert!(locked.headers.contains_key("retry-after"));

    app.clock
        .advance(app.state.settings.login_throttle.window_seconds + 1);
    let later = token(&app, &cc, Some((&backend.client_id, &secret))).await;
    assert_eq!(later.status, StatusCode::OK, "the window passed");
    // client_secret_post works too.
    let post = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &backend.client_id),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    assert_eq!(post.status, StatusCode::OK);
}

fn decoded_len(token: &str) -> usize {
    URL_SAFE_NO_PAD.decode(token).expect("base64url").len()
}

#[tokio::test]
async fn r33_credentials_are_unguessable_and_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let (_, secret) = register(&app, &user, backend_form()).await;
    let secret = secret.expect("secret");
    assert!(decoded_len(&secret) >= 32);

    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    // The issue time (microseconds in 13 hex digits), then the random part.
    let (issued, random) = code.split_at(13);
    assert!(u64::from_str_radix(issued, 16).is_ok(), "{code}");
    assert!(decoded_len(random) >= 32);
    let tokens = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    let rt = tokens.refresh_token();
    // `<family>~<generation>~<MAC>`: the MAC, 256 bits keyed by the server, is what
    // cannot be guessed; the database keeps only the family's salt.
    let mac = rt.rsplit('~').next().expect("mac");
    assert!(
        mac.len() >= 64 && mac.chars().all(|c| c.is_ascii_hexdigit()),
        "{rt}"
    );
    let jti = jwt_claims(&tokens.access_token())["jti"]
        .as_str()
        .expect("jti")
        .to_owned();
    // The jti is not a credential (the signature is), but it is unique: a time
    // prefix (so its index grows at one end) and 128 random bits.
    let (issued, random) = jti.split_at(13);
    assert!(u64::from_str_radix(issued, 16).is_ok(), "{jti}");
    assert!(random.len() >= 32 && random.chars().all(|c| c.is_ascii_hexdigit()));

    let (raw_code, raw_secret) = (code.clone(), secret.clone());
    let (stored_by_raw, stored_by_hash, secret_hash) = app
        .state
        .db
        .read({
            let hashed = bridgekeeper::oauth::code::lookup_key(&app.state.credential_hasher, &code);
            let client_id = client.client_id.clone();
            move |conn| {
                let by_raw = oauth_authorization_codes::family_of(conn, &raw_code)?.is_some();
                let by_hash = oauth_authorization_codes::family_of(conn, &hashed)?.is_some();
                let _ = client_id;
                let clients = bridgekeeper::db::oauth_clients::list_all(conn)?;
                let secret_hash = clients
                    .iter()
                    .find_map(|c| c.secret_hash.clone())
                    .unwrap_or_default();
                Ok::<_, bridgekeeper::db::DbError>((by_raw, by_hash, secret_hash))
            }
        })
        .await
        .expect("query");
    assert!(!stored_by_raw, "the code itself is not stored");
    assert!(stored_by_hash, "its keyed hash is");
    assert_ne!(secret_hash, raw_secret);
    assert_eq!(secret_hash, app.state.credential_hasher.hash(&raw_secret));
}

#[tokio::test]
async fn r34_client_type_is_recorded_and_public_clients_have_no_secret() {
    let app = TestApp::spawn().await;
    let (user, spa) = business_with_spa(&app).await;
    assert_eq!(spa.client_type.as_str(), "public");
    assert!(spa.secret_hash.is_none());
    let (backend, _) = register(&app, &user, backend_form()).await;
    assert_eq!(backend.client_type.as_str(), "confidential");

    let tab = app
        .get("/dashboard/oauth/")
        .await
        .text()
        .await
        .expect("body");
    assert!(
        tab.contains(">public<") && tab.contains(">confidential<"),
        "types shown"
    );

    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&spa.client_id, &pkce, &[])).await;
    let with_secret = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SPA_REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
        Some((&spa.client_id, "a-made-up-secret")),
    )
    .await;
    assert_eq!(with_secret.status, StatusCode::UNAUTHORIZED);
    assert_eq!(with_secret.error(), "invalid_client");
    let rotate = app
        .post_form(
            &format!("/dashboard/oauth/clients/{}/rotate-secret", spa.client_id),
            &[],
        )
        .await;
    assert_eq!(
        rotate.status(),
        StatusCode::BAD_REQUEST,
        "a public client has no secret to rotate"
    );
}

#[tokio::test]
async fn r35_client_ids_are_server_generated_and_subjects_distinguish_users_from_clients() {
    let app = TestApp::spawn().await;
    let user = app.logged_in_business("owner@acme.test").await;
    let created = app
        .post_form(
            "/dashboard/oauth/clients/",
            &[
                ("name", "Chooser"),
                ("client_id", "user:1"),
                ("client_type", "public"),
                ("redirect_uris", SPA_REDIRECT),
                ("scopes", "customers:read"),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    let page = created.text().await.expect("body");
    let client_id = token_endpoint_between(&page);
    assert_ne!(client_id, "user:1", "the client's pick is ignored");
    assert!(decoded_len(&client_id) >= 16);

    let (spa, _) = register(&app, &user, spa_form()).await;
    let user_token = spa_tokens(&app, &spa).await.access_token();
    assert_eq!(jwt_claims(&user_token)["sub"], format!("user:{}", user.id));
    let (backend, secret) = register(&app, &user, backend_form()).await;
    let client_token = token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&backend.client_id, &secret.expect("secret"))),
    )
    .await
    .access_token();
    assert_eq!(
        jwt_claims(&client_token)["sub"],
        format!("client:{}", backend.client_id)
    );
}

fn token_endpoint_between(page: &str) -> String {
    between(page, "<code id=\"client-id\">", "</code>")
}

#[tokio::test]
async fn r36_tokens_in_the_url_query_are_refused() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let access = spa_tokens(&app, &client).await.access_token();
    let in_query = reqwest::Client::new()
        .get(app.url(&format!("/api/me/?access_token={access}")))
        .send()
        .await
        .expect("GET");
    assert_eq!(in_query.status(), StatusCode::UNAUTHORIZED);
    let challenge = in_query.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.contains("error=\"invalid_request\""),
        "{challenge}"
    );
    let body: Value = in_query.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
    // Even alongside a good header.
    let both = reqwest::Client::new()
        .get(app.url(&format!("/api/me/?access_token={access}")))
        .bearer_auth(&access)
        .send()
        .await
        .expect("GET");
    assert_eq!(both.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api_me(&app, &access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn r37_access_tokens_are_audience_restricted() {
    let app = TestApp::spawn().await;
    let (user, client) = business_with_spa(&app).await;
    let access = spa_tokens(&app, &client).await.access_token();
    let claims = jwt_claims(&access);
    let issuer = app.state.oauth.issuer.clone();
    assert_eq!(claims["aud"], format!("{issuer}/api/"));

    // Signed with our own key, but for another audience.
    let foreign = access_token::sign(
        &app.state.oauth.keys,
        &Claims {
            iss: issuer.clone(),
            sub: format!("user:{}", user.id),
            aud: "https://other-api.test/".into(),
            client_id: client.client_id.clone(),
            scope: "customers:read".into(),
            jti: claims["jti"].as_str().expect("jti").into(),
            iat: app.clock_now(),
            exp: app.clock_now() + 300,
            sid: claims["sid"].as_str().map(str::to_owned),
        },
    )
    .expect("signed");
    let response = api_me(&app, &foreign).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let body: Value = response.json().await.expect("json");
    assert!(body["message"]
        .as_str()
        .expect("message")
        .contains("not meant for this API"));
}

#[tokio::test]
async fn identifiers_no_client_could_have_are_refused_before_any_query() {
    let app = TestApp::spawn().await;
    let long = "c".repeat(12 * 1024);
    for client_id in ["abc\0def", long.as_str()] {
        let answer = token(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", "secret"),
            ],
            None,
        )
        .await;
        assert!(answer.status.is_client_error(), "{:?}", answer.status);
        assert!(answer.body["error"].is_string(), "{}", answer.body);
        let revoked = post_form_endpoint(
            &app,
            "/o/revoke_token/",
            &[("token", "x"), ("client_id", client_id)],
            None,
        )
        .await;
        assert!(revoked.status.is_client_error(), "{:?}", revoked.status);
        let params = vec![
            ("response_type".to_owned(), "code".to_owned()),
            ("client_id".to_owned(), client_id.to_owned()),
        ];
        let page = authorize(&app, &params).await;
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        assert!(page.headers().get(reqwest::header::LOCATION).is_none());
    }
}
