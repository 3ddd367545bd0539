//! What happens in the authorization server. Client names are shown quoted (`{:?}`):
//! they are chosen by businesses and may contain anything.

use crate::db::types::{GrantId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthEvent {
    ClientRegistered {
        client_id: String,
        name: String,
        client_type: String,
        scopes: String,
    },
    ClientSecretRotated {
        client_id: String,
        name: String,
    },
    /// Its grants and tokens went with it.
    ClientDeleted {
        client_id: String,
        name: String,
    },
    /// A wrong secret (or none) was presented for a confidential client.
    ClientAuthFailed {
        client_id: String,
    },
    ConsentGranted {
        client_id: String,
        name: String,
        scope: String,
    },
    ConsentDenied {
        client_id: String,
        name: String,
        scope: String,
    },
    CodeIssued {
        client_id: String,
        scope: String,
        /// Whether the user consented now or had consented before.
        remembered_consent: bool,
    },
    /// A used code was presented again; what it issued was revoked.
    CodeReplayed {
        client_id: String,
    },
    TokenIssued {
        grant: IssuedGrant,
        scope: String,
    },
    TokenRefreshed {
        user_id: UserId,
        scope: String,
    },
    /// A rotated-out refresh token was presented; its family was revoked.
    RefreshTokenReused {
        client_id: String,
    },
    TokenRevoked {
        token: RevokedToken,
    },
    /// A user revoked an application's grant on the OAuth tab.
    GrantRevoked {
        grant_id: GrantId,
        families: usize,
    },
    /// An operator rotated the signing key (`bridgekeeper keys rotate`).
    SigningKeyRotated {
        kid: String,
        algorithm: &'static str,
    },
    /// The periodic clean-up removed what had expired.
    ExpiredRemoved {
        codes: usize,
        token_families: usize,
        revoked_access_tokens: usize,
        signing_keys: usize,
    },
}

/// How a token was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedGrant {
    AuthorizationCode { user_id: UserId, with_refresh: bool },
    ClientCredentials,
}

/// What a client revoked at `/o/revoke_token/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedToken {
    Access,
    /// A refresh token, and its family with it.
    RefreshFamily,
}

impl OAuthEvent {
    pub fn action(&self) -> &'static str {
        match self {
            OAuthEvent::ClientRegistered { .. } => "oauth.client_registered",
            OAuthEvent::ClientSecretRotated { .. } => "oauth.client_secret_rotated",
            OAuthEvent::ClientDeleted { .. } => "oauth.client_deleted",
            OAuthEvent::ClientAuthFailed { .. } => "oauth.client_auth_failed",
            OAuthEvent::ConsentGranted { .. } => "oauth.consent_granted",
            OAuthEvent::ConsentDenied { .. } => "oauth.consent_denied",
            OAuthEvent::CodeIssued { .. } => "oauth.code_issued",
            OAuthEvent::CodeReplayed { .. } => "oauth.code_replayed",
            OAuthEvent::TokenIssued { .. } => "oauth.token_issued",
            OAuthEvent::TokenRefreshed { .. } => "oauth.token_refreshed",
            OAuthEvent::RefreshTokenReused { .. } => "oauth.refresh_token_reused",
            OAuthEvent::TokenRevoked { .. } => "oauth.token_revoked",
            OAuthEvent::GrantRevoked { .. } => "oauth.grant_revoked",
            OAuthEvent::SigningKeyRotated { .. } => "oauth.signing_key_rotated",
            OAuthEvent::ExpiredRemoved { .. } => "oauth.expired_removed",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            OAuthEvent::ClientRegistered {
                client_id,
                name,
                client_type,
                scopes,
            } => format!("{client_type} client {name:?} ({client_id}) scopes: {scopes}"),
            OAuthEvent::ClientSecretRotated { client_id, name } => {
                format!("{name:?} ({client_id})")
            }
            OAuthEvent::ClientDeleted { client_id, name } => {
                format!("{name:?} ({client_id}); its grants and tokens were revoked")
            }
            OAuthEvent::ClientAuthFailed { client_id } => format!("client {client_id}"),
            OAuthEvent::ConsentGranted {
                client_id,
                name,
                scope,
            }
            | OAuthEvent::ConsentDenied {
                client_id,
                name,
                scope,
            } => format!("{name:?} ({client_id}) scopes: {scope}"),
            OAuthEvent::CodeIssued {
                client_id,
                scope,
                remembered_consent,
            } => {
                let how = if *remembered_consent {
                    "remembered consent"
                } else {
                    "consent"
                };
                format!("client {client_id} scopes: {scope} ({how})")
            }
            OAuthEvent::CodeReplayed { client_id } => format!(
                "client {client_id}: a used code was presented again; its tokens were revoked"
            ),
            OAuthEvent::TokenIssued {
                grant: IssuedGrant::AuthorizationCode {
                    user_id,
                    with_refresh,
                },
                scope,
            } => {
                let and_refresh = if *with_refresh { " and refresh" } else { "" };
                format!(
                    "authorization_code: access{and_refresh} token for user {user_id} scopes: {scope}"
                )
            }
            OAuthEvent::TokenIssued {
                grant: IssuedGrant::ClientCredentials,
                scope,
            } => format!("client_credentials: access token scopes: {scope}"),
            OAuthEvent::TokenRefreshed { user_id, scope } => {
                format!("refresh token rotated for user {user_id} scopes: {scope}")
            }
            OAuthEvent::RefreshTokenReused { client_id } => format!(
                "client {client_id}: a rotated-out refresh token was presented; its family was revoked"
            ),
            OAuthEvent::TokenRevoked {
                token: RevokedToken::Access,
            } => "access token revoked by its client".into(),
            OAuthEvent::TokenRevoked {
                token: RevokedToken::RefreshFamily,
            } => "refresh token (and its family) revoked by its client".into(),
            OAuthEvent::GrantRevoked { grant_id, families } => {
                format!("grant {grant_id} ({families} sessions and their tokens revoked)")
            }
            OAuthEvent::SigningKeyRotated { kid, algorithm } => format!("new {algorithm} key {kid}"),
            OAuthEvent::ExpiredRemoved {
                codes,
                token_families,
                revoked_access_tokens,
                signing_keys,
            } => format!(
                "{codes} codes, {token_families} token families, {revoked_access_tokens} revoked access tokens, {signing_keys} signing keys"
            ),
        }
    }
}
