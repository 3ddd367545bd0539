//! Errors of the HTTP layer. Which type belongs where:
//! - [`PageError`]: pages for people; renders a readable HTML page (or a redirect to
//!   the login page) and never shows internals.
//! - JSON APIs (`/api/`, `/o/`) have their own error types next to their handlers, in
//!   the shapes their RFCs and our API contract fix.
//!
//! Domain errors convert into these with `From`, so handlers can use `?`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::accounts::AccountError;
use crate::db::DbError;
use crate::error::{BoxError, Chain, Context, Internal};
use crate::stripe::platform_settings::SettingsError;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("login required")]
    LoginRequired { next: String },
    #[error("the form was stale or not sent from this site")]
    CsrfRejected,
    #[error("{0}")]
    BadRequest(String),
    #[error("too many attempts")]
    TooManyRequests { retry_after_seconds: i64 },
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body did not arrive in time")]
    TimedOut,
    /// The server is at capacity for this kind of work: 503 with `Retry-After`.
    #[error("busy")]
    Busy { retry_after_seconds: i64 },
    /// The server's own failure: the page says so and nothing more; the log line has
    /// the cause and the line of our code where it was turned into this error.
    #[error(transparent)]
    Internal(Internal),
}

impl PageError {
    #[track_caller]
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        PageError::Internal(Internal::new(cause))
    }

    /// The server's own failure because its database cannot be reached: 503 with
    /// `Retry-After`, not 500.
    fn database_unavailable(&self) -> bool {
        matches!(self, PageError::Internal(internal) if crate::db::unavailable_in(internal))
    }

    fn title_and_message(&self) -> (&'static str, String) {
        match self {
            PageError::NotFound => ("Page not found", "There is nothing at this address.".into()),
            PageError::Forbidden => (
                "Not allowed",
                "Your account may not open this page. Admin pages need an admin account.".into(),
            ),
            PageError::LoginRequired { .. } => ("Log in", "Please log in first.".into()),
            PageError::CsrfRejected => (
                "Form expired",
                "This form was stale or did not come from this site. Go back, reload the page and submit it again.".into(),
            ),
            PageError::BadRequest(message) => ("Bad request", message.clone()),
            PageError::TooLarge { limit } => (
                "Too large",
                format!("This form is larger than the {} KiB a page accepts.", limit / 1024),
            ),
            PageError::Busy {
                retry_after_seconds,
            } => (
                "Busy",
                format!(
                    "Many people are signing in right now. Please try again in {}.",
                    describe_wait(*retry_after_seconds)
                ),
            ),
            PageError::TimedOut => (
                "Request timed out",
                "The form took too long to arrive. Check your connection and submit it again."
                    .into(),
            ),
            PageError::TooManyRequests { retry_after_seconds } => (
                "Too many attempts",
                format!("Please wait {} and try again.", describe_wait(*retry_after_seconds)),
            ),
            PageError::Internal(_) if self.database_unavailable() => (
                "Temporarily unavailable",
                "The service is temporarily unavailable. Please try again in a moment.".into(),
            ),
            PageError::Internal(_) => (
                "Something went wrong",
                "The server could not finish this request. It has been logged; please try again.".into(),
            ),
        }
    }
}

pub fn describe_wait(seconds: i64) -> String {
    if seconds == 1 {
        "1 second".to_owned()
    } else if seconds <= 90 {
        format!("{seconds} seconds")
    } else {
        format!("{} minutes", (seconds + 59) / 60)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: crate::web::pages::Layout,
    pub title: &'static str,
    pub message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Forbidden | PageError::CsrfRejected => StatusCode::FORBIDDEN,
            PageError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            PageError::TimedOut => StatusCode::REQUEST_TIMEOUT,
            PageError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            PageError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ if self.database_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::LoginRequired { next } = self {
            let location = format!("/login?next={}", urlencode(next));
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        if let PageError::Internal(internal) = self {
            // The cause is logged once, here, with its chain; the page says nothing of it.
            if self.database_unavailable() {
                tracing::warn!(error = %Chain(internal), "request failed: the database is unavailable");
            } else {
                tracing::error!(error = %Chain(internal), "request failed");
            }
        }
        let (title, message) = self.title_and_message();
        let page = ErrorPage {
            layout: crate::web::pages::Layout::bare(),
            title,
            message,
        };
        let mut response = HttpResponse::build(self.status_code());
        if let PageError::TooManyRequests {
            retry_after_seconds,
        }
        | PageError::Busy {
            retry_after_seconds,
        } = self
        {
            response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
        }
        if self.database_unavailable() {
            let retry_after = crate::db::UNAVAILABLE_RETRY_AFTER_SECONDS;
            response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        match page.render() {
            Ok(body) => response.content_type("text/html; charset=utf-8").body(body),
            Err(_) => response
                .content_type("text/plain; charset=utf-8")
                .body(message_text(title)),
        }
    }
}

fn message_text(title: &str) -> String {
    format!("{title}\n")
}

pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl From<DbError> for PageError {
    #[track_caller]
    fn from(e: DbError) -> Self {
        PageError::internal(e)
    }
}

impl From<askama::Error> for PageError {
    #[track_caller]
    fn from(e: askama::Error) -> Self {
        PageError::internal(Context::new("template", e))
    }
}

impl From<AccountError> for PageError {
    #[track_caller]
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(invalid) => PageError::BadRequest(invalid.to_string()),
            AccountError::Throttled {
                retry_after_seconds,
            } => PageError::TooManyRequests {
                retry_after_seconds,
            },
            AccountError::EmailTaken | AccountError::WrongCredentials => {
                PageError::BadRequest(e.to_string())
            }
            AccountError::Db(e) => PageError::internal(e),
            AccountError::PasswordHash(e) => PageError::internal(e),
            AccountError::Busy(_) => PageError::Busy {
                retry_after_seconds: 1,
            },
        }
    }
}

impl From<SettingsError> for PageError {
    #[track_caller]
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid(invalid) => PageError::BadRequest(invalid.to_string()),
            other => PageError::internal(other),
        }
    }
}

/// The body of an answer built in memory (for the tests of the error types), `None`
/// when it is not ready at once or cannot be read.
#[cfg(test)]
pub(crate) fn body_in_memory(response: HttpResponse) -> Option<actix_web::web::Bytes> {
    let body = actix_web::body::to_bytes(response.into_body());
    futures_util::FutureExt::now_or_never(body)?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Chain;

    /// A handler's `?` on a database error, and the line of that `?`.
    fn lost_writer() -> (Result<(), PageError>, u32) {
        fn handler() -> Result<(), PageError> {
            Err(DbError::task("the SQLite writer has stopped"))?;
            Ok(())
        }
        (handler(), line!() - 3)
    }

    #[test]
    fn an_internal_error_keeps_its_cause_and_the_line_of_the_question_mark() {
        let (Err(error), question_mark) = lost_writer() else {
            panic!("the handler fails");
        };
        let PageError::Internal(internal) = &error else {
            panic!("an internal error: {error:?}");
        };
        assert_eq!(internal.location().line(), question_mark);
        assert_eq!(
            Chain(&error).to_string(),
            format!(
                "internal error at src/web/error.rs:{question_mark}: \
                 database task failed: the SQLite writer has stopped"
            )
        );
    }

    #[test]
    fn an_internal_error_page_says_nothing_of_its_cause() {
        let response =
            PageError::internal(DbError::task("the SQLite writer has stopped")).error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_in_memory(response).expect("a body in memory");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("Something went wrong"), "{text}");
        assert!(!text.contains("writer"), "{text}");
        assert!(!text.contains("src/"), "{text}");
    }
}
