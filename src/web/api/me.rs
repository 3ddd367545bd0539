//! `GET /api/me/`: which business, client and scopes a token stands for.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts;
use crate::oauth::scope::CUSTOMERS_READ;
use crate::web::AppState;

use super::auth::Caller;
use super::error::ApiError;
use super::schema::{AuthErrors, NotFound};

/// What the token (or, in the browsable API, the session) stands for.
#[derive(Serialize, ToSchema)]
#[schema(as = Me)]
pub struct MeJson {
    /// The business the token acts for.
    business: BusinessJson,
    /// The OAuth client the token was issued to (null in the browsable API, where the
    /// logged-in session stands in for a token).
    client_id: Option<String>,
    /// The scopes the token carries.
    #[schema(example = json!(["customers:read", "customers:write"]))]
    scopes: Vec<String>,
    /// The token's `sub`: `user:<id>` for a user's token, `client:<client_id>` for client
    /// credentials.
    #[schema(example = "user:1")]
    token_subject: String,
}

/// A business account.
#[derive(Serialize, ToSchema)]
#[schema(as = Business)]
pub struct BusinessJson {
    /// The business's id at bridgekeeper.
    id: i64,
    /// The name it signed up with.
    business_name: String,
}

/// Who am I
///
/// The business, client and scopes of the access token. Needs `customers:read`: it
/// reveals the business behind the token.
#[utoipa::path(
    get,
    path = "/api/me/",
    tag = "account",
    responses(
        (status = 200, description = "The token's business, client and scopes.", body = MeJson),
        AuthErrors,
        (status = 404, response = NotFound),
    ),
    security(("oauth2" = ["customers:read"])),
)]
pub(super) async fn me_get(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(CUSTOMERS_READ)?;
    let business = accounts::find_user(&state.db, caller.business_user_id)
        .await
        .map_err(|e| ApiError::internal(e))?
        .ok_or_else(|| ApiError::NotFound("the business of this token no longer exists".into()))?;
    Ok(HttpResponse::Ok().json(MeJson {
        business: BusinessJson {
            id: business.id.0,
            business_name: business.business_name,
        },
        client_id: caller.client_id().map(str::to_owned),
        scopes: caller.scope.iter().map(str::to_owned).collect(),
        token_subject: caller.subject(),
    }))
}
