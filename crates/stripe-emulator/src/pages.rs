//! What the emulator's pages for people (the Connect authorize page, the merchant
//! dashboard, the customer portal) share with bridgekeeper's own pages: the same
//! security headers on every answer, and a CSRF token in every form, bound to a
//! browser session of the emulator's own (a random id in an `HttpOnly`, `SameSite=Lax`
//! cookie; the token is kept beside it, in memory) and compared in constant time. A form
//! posted without its page's token is refused with a 403 page that says so.
//!
//! The API routes (`/v1/`, `/oauth/token`, `/oauth/deauthorize`) keep Stripe's wire
//! format: none of this applies to them.

use std::collections::{HashMap, VecDeque};

use subtle::ConstantTimeEq;

use crate::model::new_id;

/// The content security policy of bridgekeeper's pages, word for word (a test in the
/// service holds the two to each other): the emulator's pages load their stylesheet
/// from the emulator and nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

/// Every answer of a page route carries these (bridgekeeper's, less HSTS: the emulator
/// serves plain http on loopback).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
];

/// The cookie naming the browser's emulator session. (Cookies ignore ports: on
/// loopback the service's cookies reach the emulator too, hence a name of its own.)
pub const SESSION_COOKIE: &str = "stripe_emulator_session";

/// The form field the token travels in.
pub const CSRF_FIELD: &str = "csrf_token";

/// Sessions kept before the oldest is forgotten (its open forms then need a reload).
const MAX_SESSIONS: usize = 4096;

/// The routes people use in a browser, as opposed to Stripe's API.
pub fn is_page(method: &str, path: &str) -> bool {
    path == "/oauth/authorize"
        || path == "/dashboard"
        || path.starts_with("/dashboard/")
        || path.starts_with("/p/session/")
        || (method == "GET" && path.starts_with("/assets/"))
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// Browser sessions and their CSRF tokens.
#[derive(Default)]
pub struct Sessions {
    tokens: HashMap<String, String>,
    order: VecDeque<String>,
}

/// The token a page's forms carry, and the cookie to set when the session is new.
pub struct PageSession {
    pub token: String,
    pub set_cookie: Option<String>,
}

impl Sessions {
    /// The token of the browser's session, starting a session when it has none (or one
    /// this emulator does not know).
    pub fn for_page(&mut self, session: Option<&str>) -> PageSession {
        if let Some(token) = session.and_then(|id| self.tokens.get(id)) {
            return PageSession {
                token: token.clone(),
                set_cookie: None,
            };
        }
        let id = new_id("bs", 43);
        let token = new_id("csrf", 43);
        if self.order.len() >= MAX_SESSIONS {
            if let Some(oldest) = self.order.pop_front() {
                self.tokens.remove(&oldest);
            }
        }
        self.tokens.insert(id.clone(), token.clone());
        self.order.push_back(id.clone());
        PageSession {
            token,
            set_cookie: Some(format!(
                "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"
            )),
        }
    }

    /// True when `token` is the token of the browser's session (constant time).
    pub fn verify(&self, session: Option<&str>, token: Option<&str>) -> bool {
        match (session.and_then(|id| self.tokens.get(id)), token) {
            (Some(expected), Some(given)) => {
                bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
            }
            _ => false,
        }
    }
}

/// The stylesheet of the emulator's pages (inline styles would need
/// `style-src 'unsafe-inline'`).
pub const STYLESHEET: &str = include_str!("../static/emulator.css");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_with_its_own_session() {
        let mut sessions = Sessions::default();
        let first = sessions.for_page(None);
        let cookie_header = first
            .set_cookie
            .clone()
            .expect("a new session sets a cookie");
        let id = cookie(&cookie_header, SESSION_COOKIE).expect("the id");
        assert!(sessions.verify(Some(id), Some(&first.token)));
        let again = sessions.for_page(Some(id));
        assert_eq!(again.token, first.token, "one token per session");
        assert!(again.set_cookie.is_none());

        let other = sessions.for_page(None);
        let other_id = other.set_cookie.clone().expect("cookie");
        let other_id = cookie(&other_id, SESSION_COOKIE).expect("id");
        assert!(!sessions.verify(Some(other_id), Some(&first.token)));
        assert!(!sessions.verify(Some(id), None));
        assert!(!sessions.verify(None, Some(&first.token)));
        assert!(!sessions.verify(Some(id), Some("csrf_wrong")));
        assert!(!sessions.verify(Some("bs_unknown"), Some(&first.token)));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let header = "bridgekeeper_session=abc; stripe_emulator_session=bs_1; x=y";
        assert_eq!(cookie(header, SESSION_COOKIE), Some("bs_1"));
        assert_eq!(cookie("a=b", SESSION_COOKIE), None);
    }

    #[test]
    fn only_the_pages_for_people_are_pages() {
        for (method, path) in [
            ("GET", "/oauth/authorize"),
            ("POST", "/oauth/authorize"),
            ("GET", "/dashboard"),
            ("POST", "/dashboard/accounts/acct_1/revoke"),
            ("GET", "/p/session/abc"),
            ("GET", "/assets/emulator.css"),
        ] {
            assert!(is_page(method, path), "{method} {path}");
        }
        for (method, path) in [
            ("POST", "/oauth/token"),
            ("POST", "/oauth/deauthorize"),
            ("GET", "/v1/customers/cus_1"),
            ("POST", "/v1/billing_portal/sessions"),
        ] {
            assert!(!is_page(method, path), "{method} {path}");
        }
    }
}
