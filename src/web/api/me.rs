//! `GET /api/me/`: which business, client and scopes a token stands for.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::accounts;
use crate::oauth::scope::CUSTOMERS_READ;
use crate::web::AppState;

use super::{ApiError, BearerAuth};

/// Needs `customers:read`: it reveals the business behind the token.
pub async fn me_get(
    state: web::Data<AppState>,
    auth: BearerAuth,
) -> Result<HttpResponse, ApiError> {
    auth.require_scope(CUSTOMERS_READ)?;
    let grant = &auth.0;
    let business = accounts::find_user(&state.db, grant.business_user_id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| ApiError::NotFound("the business of this token no longer exists".into()))?;
    let scopes: Vec<&str> = grant.scope.iter().collect();
    Ok(HttpResponse::Ok().json(json!({
        "business": { "id": business.id, "business_name": business.business_name },
        "client_id": grant.client_id,
        "scopes": scopes,
        "token_subject": grant.claims.sub,
    })))
}
