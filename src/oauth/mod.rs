//! The OAuth 2 authorization server: protocol rules with no HTTP types.
