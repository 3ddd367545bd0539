//! A registered client as the protocol sees it (parsed from its row).

use crate::db::oauth_clients::OAuthClient;
pub use crate::db::types::ClientType;

use super::scope::ScopeSet;
use crate::db::types::{ClientPk, UserId};

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";

#[derive(Debug, Clone)]
pub struct Client {
    pub pk: ClientPk,
    pub client_id: String,
    pub owner_user_id: UserId,
    pub name: String,
    pub client_type: ClientType,
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: ScopeSet,
    pub cors_origins: Vec<String>,
    pub issue_refresh_tokens: bool,
    pub always_ask_consent: bool,
    pub created_at: i64,
}

fn words(raw: &str) -> Vec<String> {
    raw.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl From<OAuthClient> for Client {
    fn from(row: OAuthClient) -> Self {
        Self {
            pk: row.id,
            client_type: row.client_type,
            redirect_uris: words(&row.redirect_uris),
            grant_types: words(&row.grant_types),
            scopes: ScopeSet::from_stored(&row.scopes),
            cors_origins: words(&row.cors_origins),
            client_id: row.client_id,
            owner_user_id: row.owner_user_id,
            name: row.name,
            secret_hash: row.secret_hash,
            issue_refresh_tokens: row.issue_refresh_tokens,
            always_ask_consent: row.always_ask_consent,
            created_at: row.created_at,
        }
    }
}

impl Client {
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        if grant_type == GRANT_REFRESH_TOKEN {
            return self.issue_refresh_tokens;
        }
        self.grant_types.iter().any(|g| g == grant_type)
    }

    pub fn is_confidential(&self) -> bool {
        self.client_type == ClientType::Confidential
    }

    pub fn allows_origin(&self, origin: &str) -> bool {
        self.cors_origins.iter().any(|o| o == origin)
    }
}

/// The longest `client_id` looked up. This server issues 24 characters; anything much
/// longer names no client, and is not worth a query, a throttle row or an index entry
/// (PostgreSQL refuses index entries past about 2,700 bytes).
pub const MAX_CLIENT_ID_LEN: usize = 128;

/// Whether `raw` can name a client: 1 to [`MAX_CLIENT_ID_LEN`] visible ASCII characters
/// or spaces (`VSCHAR`, RFC 6749 Appendix A), so no NUL byte (which PostgreSQL text
/// cannot hold) ever reaches a query.
pub fn is_plausible_client_id(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_CLIENT_ID_LEN
        && raw.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// The `sub` claim of a token issued to a user; never equal to a client's.
pub fn user_subject(user_id: UserId) -> String {
    format!("user:{user_id}")
}

/// The `sub` claim of a client-credentials token.
pub fn client_subject(client_id: &str) -> String {
    format!("client:{client_id}")
}
