//! Races and scale-out: single use under concurrency, and two instances on one database.

use futures_util::future::join_all;
use reqwest::StatusCode;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_exchanges_of_one_code_give_exactly_one_success() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    let attempts = (0..50).map(|_| exchange(&app, &client.client_id, &code, &pkce.verifier));
    let answers = join_all(attempts).await;
    let ok = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "exactly one exchange wins");
    for answer in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.error(), "invalid_grant");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_uses_of_one_refresh_token_give_exactly_one_success() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let rt = spa_tokens(&app, &client).await.refresh_token();
    let attempts = (0..50).map(|_| refresh(&app, &client.client_id, &rt));
    let answers = join_all(attempts).await;
    let ok = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "exactly one refresh wins");
    for answer in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_eq!(answer.error(), "invalid_grant", "{}", answer.body);
    }
}

/// Replays of the code, reuses of a rotated-out refresh token, refreshes of the current
/// one and revocations, all at once on one family: every answer is a protocol answer
/// (never a server error from a lock conflict), and the family ends revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replay_reuse_and_revocation_of_one_family_never_fail_the_server() {
    let app = TestApp::spawn().await;
    let (_, client) = business_with_spa(&app).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &authorize_query(&client.client_id, &pkce, &[])).await;
    let first = exchange(&app, &client.client_id, &code, &pkce.verifier).await;
    let old_rt = first.refresh_token();
    let current_rt = refresh(&app, &client.client_id, &old_rt)
        .await
        .refresh_token();

    let mut attempts = Vec::new();
    for i in 0..40 {
        let (app, client_id) = (&app, client.client_id.as_str());
        let (code, verifier) = (code.as_str(), pkce.verifier.as_str());
        let (old_rt, current_rt) = (old_rt.as_str(), current_rt.as_str());
        attempts.push(async move {
            match i % 4 {
                0 => exchange(app, client_id, code, verifier).await,
                1 => refresh(app, client_id, old_rt).await,
                2 => refresh(app, client_id, current_rt).await,
                _ => revoke(app, client_id, current_rt).await,
            }
        });
    }
    for answer in join_all(attempts).await {
        assert!(
            answer.status == StatusCode::OK || answer.status == StatusCode::BAD_REQUEST,
            "{}: {}",
            answer.status,
            answer.body
        );
    }
    assert_eq!(
        refresh(&app, &client.client_id, &current_rt).await.error(),
        "invalid_grant",
        "the family is revoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_behave_as_one_server() {
    let first = TestApp::spawn().await;
    let second = TestApp::builder()
        .sharing_database_with(&first)
        .spawn()
        .await;
    let (user, client) = business_with_spa(&first).await;

    // A code issued by the first instance is redeemed at the second.
    let pkce = Pkce::new();
    let code = code_for(&first, &authorize_query(&client.client_id, &pkce, &[])).await;
    let tokens = exchange(&second, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let access = tokens.access_token();
    assert_eq!(api_me(&first, &access).await.status(), StatusCode::OK);
    assert_eq!(api_me(&second, &access).await.status(), StatusCode::OK);
    // Replaying it at the first is still a replay.
    let replay = exchange(&first, &client.client_id, &code, &pkce.verifier).await;
    assert_eq!(replay.error(), "invalid_grant");

    // A revocation at one is seen at the other.
    let tokens = spa_tokens(&first, &client).await;
    let access = tokens.access_token();
    let rt = tokens.refresh_token();
    assert_eq!(api_me(&second, &access).await.status(), StatusCode::OK);
    let revoked = revoke(&first, &client.client_id, &rt).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(
        api_me(&second, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&second, &client.client_id, &rt).await.error(),
        "invalid_grant"
    );

    // Client-secret throttling is shared too.
    let (backend, _) = register(&first, &user, backend_form()).await;
    let cc = [("grant_type", "client_credentials")];
    let max = first.state.settings.oauth.max_client_auth_failures;
    for i in 0..max {
        let app = if i % 2 == 0 { &first } else { &second };
        let answer = token(app, &cc, Some((&backend.client_id, "wrong"))).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        token(&second, &cc, Some((&backend.client_id, "wrong")))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        token(&first, &cc, Some((&backend.client_id, "wrong")))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
}
