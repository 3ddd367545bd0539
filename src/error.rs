//! What each layer's error keeps of a failure that is not the caller's fault: the cause
//! itself (as `source()`, never flattened to a string) and, for [`Internal`], the line of
//! our code where it became an error of ours. The one log line of such a failure shows
//! the whole chain ([`Chain`]); the answer to the client shows none of it.

use std::error::Error;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

/// Any error, boxed: the cause a variant carries when it can be of several types.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// An internal failure: its cause, and where our code turned it into this error.
/// Constructors are `#[track_caller]`, so a `?` through a `From` impl that builds one
/// records the line of the `?`. Cloning shares the cause.
#[derive(Debug, Clone)]
pub struct Internal {
    location: &'static Location<'static>,
    cause: Arc<dyn Error + Send + Sync + 'static>,
}

impl Internal {
    #[track_caller]
    pub fn new(cause: impl Into<BoxError>) -> Self {
        Self {
            location: Location::caller(),
            cause: Arc::from(cause.into()),
        }
    }

    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "internal error at {}:{}",
            self.location.file(),
            self.location.line()
        )
    }
}

impl Error for Internal {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.cause)
    }
}

/// Two internal errors are the same when they share one cause from the same line.
impl PartialEq for Internal {
    fn eq(&self, other: &Self) -> bool {
        self.location == other.location && Arc::ptr_eq(&self.cause, &other.cause)
    }
}

impl Eq for Internal {}

/// A cause with what was being done when it happened ("cannot create /var/lib/x").
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct Context {
    what: String,
    #[source]
    cause: BoxError,
}

impl Context {
    pub fn new(what: impl Into<String>, cause: impl Into<BoxError>) -> Self {
        Self {
            what: what.into(),
            cause: cause.into(),
        }
    }
}

/// An error and its causes, joined with ": " (`error: cause: cause's cause`), for the
/// one log line of a failure. Each error's `Display` says only its own part, so no
/// text repeats.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not connect")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_names_the_line_and_every_cause_once() {
        let cause = Outer(std::io::Error::other("connection refused"));
        let line = line!() + 1;
        let internal = Internal::new(cause);
        assert_eq!(
            Chain(&internal).to_string(),
            format!("internal error at src/error.rs:{line}: could not connect: connection refused")
        );
    }

    #[test]
    fn a_message_without_an_error_is_a_cause_too() {
        let internal = Internal::new("no signing key loaded");
        assert!(Chain(&internal)
            .to_string()
            .ends_with(": no signing key loaded"));
    }
}
