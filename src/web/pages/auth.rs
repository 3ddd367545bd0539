//! Sign-up, login and logout.

use crate::web::session::{self, client_ip, CurrentUser, EmptyForm, VerifiedForm};
use actix_session::Session;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::accounts::{self, AccountError, BusinessName, Email, NewAccount, NewPassword};
use crate::events::Actor;
use crate::web::error::PageError;
use crate::web::pages::{render, see_other, Layout};
use crate::web::rate_limits::Budget;
use crate::web::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(login_get)
        .service(login_post)
        .service(signup_get)
        .service(signup_post)
        .service(logout_post);
}

#[get("/")]
async fn home(session: Session) -> HttpResponse {
    if session::has_session_token(&session) {
        see_other("/dashboard/oauth/")
    } else {
        see_other("/login")
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Where a login goes when `next` names no page of this site.
const DEFAULT_NEXT: &str = "/dashboard/oauth/";

/// The post-login destination: `next` only when it is a page of this site, whatever it
/// holds. It is resolved against the public URL the way a browser resolves a
/// `Location` (WHATWG URL parsing: tabs and newlines dropped, `\` read as `/`, `//`
/// starting another host), and kept only if that lands on this origin; the answer is
/// its path, query and fragment as the parser writes them (percent-encoded ASCII, so
/// always a valid header value). Anything else goes to the dashboard.
fn safe_next(public_url: &url::Url, next: Option<&str>) -> String {
    let Some(next) = next.filter(|n| n.starts_with('/')) else {
        return DEFAULT_NEXT.to_owned();
    };
    match public_url.join(next) {
        Ok(target) if target.origin() == public_url.origin() => {
            let mut path = target.path().to_owned();
            if let Some(query) = target.query() {
                path.push('?');
                path.push_str(query);
            }
            if let Some(fragment) = target.fragment() {
                path.push('#');
                path.push_str(fragment);
            }
            path
        }
        _ => DEFAULT_NEXT.to_owned(),
    }
}

#[get("/login")]
async fn login_get(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    render(&LoginPage {
        layout: Layout::new(&state, &session, None, "login")?,
        email: String::new(),
        next: safe_next(&state.settings.public_url, query.next.as_deref()),
        error: None,
    })
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[post("/login")]
async fn login_post(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    VerifiedForm(form): VerifiedForm<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let ip = client_ip(&req, &state.settings);
    spend_budget(&state, Budget::LoginPerIp, ip.as_deref())?;
    let next = safe_next(&state.settings.public_url, form.next.as_deref());
    let outcome = accounts::authenticate(
        &state.db,
        state.clock.as_ref(),
        state.settings.login_throttle,
        &form.email,
        &form.password,
        ip,
    )
    .await;
    match outcome {
        Ok(user) => {
            session::log_in(&session, &req, &state, &user).await?;
            Ok(see_other(&next))
        }
        Err(AccountError::WrongCredentials) => {
            let page = LoginPage {
                layout: Layout::new(&state, &session, None, "login")?,
                email: form.email,
                next,
                error: Some("Email or password is incorrect.".into()),
            };
            Ok(HttpResponse::Unauthorized()
                .content_type("text/html; charset=utf-8")
                .body(page.render()?))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    layout: Layout,
    business_name: String,
    email: String,
    errors: Vec<String>,
}

#[get("/signup")]
async fn signup_get(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    render(&SignupPage {
        layout: Layout::new(&state, &session, None, "signup")?,
        business_name: String::new(),
        email: String::new(),
        errors: Vec::new(),
    })
}

#[derive(Deserialize)]
struct SignupForm {
    #[serde(default)]
    business_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[post("/signup")]
async fn signup_post(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    VerifiedForm(form): VerifiedForm<SignupForm>,
) -> Result<HttpResponse, PageError> {
    let ip = client_ip(&req, &state.settings);
    spend_budget(&state, Budget::SignupPerIp, ip.as_deref())?;
    let parsed = (
        BusinessName::parse(&form.business_name),
        Email::parse(&form.email),
        NewPassword::parse(&form.password),
    );
    let outcome = match parsed {
        (Ok(business_name), Ok(email), Ok(password)) => {
            let account = NewAccount {
                email,
                password,
                business_name,
                is_admin: false,
            };
            accounts::create_account(
                &state.db,
                state.clock.as_ref(),
                account,
                Actor::anonymous(ip),
            )
            .await
            .map_err(|e| match e {
                AccountError::EmailTaken => Ok(vec![
                    "An account with this email already exists. Log in instead?".into(),
                ]),
                other => Err(other),
            })
        }
        (business_name, email, password) => {
            Err(Ok([business_name.err(), email.err(), password.err()]
                .into_iter()
                .flatten()
                .map(|invalid| invalid.message)
                .collect()))
        }
    };
    match outcome {
        Ok(user) => {
            session::log_in(&session, &req, &state, &user).await?;
            session::flash(
                &session,
                "success",
                "Welcome! Your business account is ready.",
            );
            Ok(see_other("/dashboard/oauth/"))
        }
        Err(Ok(errors)) => {
            let page = SignupPage {
                layout: Layout::new(&state, &session, None, "signup")?,
                business_name: form.business_name,
                email: form.email,
                errors,
            };
            Ok(HttpResponse::BadRequest()
                .content_type("text/html; charset=utf-8")
                .body(page.render()?))
        }
        Err(Err(other)) => Err(other.into()),
    }
}

/// Takes one request from the sender's budget, or refuses the form with 429.
fn spend_budget(state: &AppState, budget: Budget, ip: Option<&str>) -> Result<(), PageError> {
    match ip {
        Some(ip) => state
            .rate_limits
            .check(budget, ip)
            .map_err(|retry_after_seconds| PageError::TooManyRequests {
                retry_after_seconds,
            }),
        None => Ok(()),
    }
}

#[post("/logout")]
async fn logout_post(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    CurrentUser(user): CurrentUser,
    VerifiedForm(_): VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    session::log_out(&session, &req, &state, &user).await?;
    Ok(see_other("/login"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{safe_next, DEFAULT_NEXT};

    fn public_url() -> url::Url {
        url::Url::parse("https://auth.example.com").expect("a valid literal URL")
    }

    /// What a browser does with `Location: <next>` on a page of this site.
    fn where_a_browser_goes(next: &str) -> url::Url {
        public_url().join(next).expect("a path joins")
    }

    #[test]
    fn a_page_of_this_site_is_kept() {
        let base = public_url();
        assert_eq!(
            safe_next(&base, Some("/o/authorize/?a=b")),
            "/o/authorize/?a=b"
        );
        assert_eq!(
            safe_next(&base, Some("/dashboard/customers/#x")),
            "/dashboard/customers/#x"
        );
        assert_eq!(safe_next(&base, None), DEFAULT_NEXT);
    }

    #[test]
    fn anything_that_leaves_this_site_goes_to_the_dashboard() {
        let base = public_url();
        for hostile in [
            "//evil.test/",
            "https://evil.test/",
            "/\\evil.test",
            "\\evil.test",
            "/\t/evil.test/",
            "/\n/evil.test/",
            "/\r\n/evil.test/",
            "\t//evil.test/",
            "/\\/evil.test",
            "http:evil.test",
            "javascript:alert(1)",
            "evil",
            "",
        ] {
            assert_eq!(safe_next(&base, Some(hostile)), DEFAULT_NEXT, "{hostile:?}");
        }
    }

    #[test]
    fn control_characters_and_encodings_never_reach_the_location_header() {
        let base = public_url();
        // A newline once made the Location header invalid (a 500).
        let kept = safe_next(&base, Some("/dashboard/\n%0A%09x"));
        assert!(kept.bytes().all(|b| b.is_ascii_graphic()), "{kept:?}");
        assert_eq!(where_a_browser_goes(&kept).origin(), base.origin());
        // Encoded slashes stay encoded: a path on this site, not another host.
        assert_eq!(
            safe_next(&base, Some("/%2F%2Fevil.test/")),
            "/%2F%2Fevil.test/"
        );
    }

    proptest! {
        #[test]
        fn whatever_next_holds_a_browser_stays_on_this_site(
            next in proptest::string::string_regex("[/\\\\:@.%?#a-z0-9\t\n\r \x00-\x1f]{0,24}")
                .expect("a valid pattern")
        ) {
            let base = public_url();
            let kept = safe_next(&base, Some(&next));
            prop_assert!(kept.starts_with('/'));
            prop_assert!(kept.bytes().all(|b| b.is_ascii_graphic()), "{:?}", kept);
            prop_assert_eq!(where_a_browser_goes(&kept).origin(), base.origin());
        }
    }
}
