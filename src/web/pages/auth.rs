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
    if session.get::<i64>("uid").ok().flatten().is_some() {
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

/// Only same-site paths may be a post-login destination (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/dashboard/oauth/".to_owned(),
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
        next: safe_next(query.next.as_deref()),
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
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let next = safe_next(form.next.as_deref());
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
            session::log_in(&session, &user, state.now())?;
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
    let parsed = (
        BusinessName::parse(&form.business_name),
        Email::parse(&form.email),
        NewPassword::parse(&form.password),
    );
    let outcome = match parsed {
        (Ok(business_name), Ok(email), Ok(password)) => {
            let ip = client_ip(&req, state.settings.trust_proxy_headers);
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
            session::log_in(&session, &user, state.now())?;
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

#[post("/logout")]
async fn logout_post(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    CurrentUser(user): CurrentUser,
    VerifiedForm(_): VerifiedForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    session::log_out(&session);
    accounts::record_logout(&state.db, state.clock.as_ref(), &user, ip).await?;
    Ok(see_other("/login"))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn post_login_destination_stays_on_this_site() {
        assert_eq!(safe_next(Some("/o/authorize/?a=b")), "/o/authorize/?a=b");
        for hostile in ["//evil.test/", "https://evil.test/", "/\\evil.test", "evil"] {
            assert_eq!(safe_next(Some(hostile)), "/dashboard/oauth/");
        }
        assert_eq!(safe_next(None), "/dashboard/oauth/");
    }
}
