//! Request budgets at the endpoints a stranger can hammer without credentials: the
//! three client-authenticated `/o/` endpoints (per IP and per client), login and
//! sign-up (per IP). OAuth 2.1 §2.4.1 asks for brute-force protection at the token
//! endpoint; the failure throttles (`accounts::throttle`, in the database, shared by
//! every instance) stop guessing, and these budgets stop floods of anything else.
//!
//! The buckets are per instance (governor's GCRA, in memory): with N instances behind
//! a load balancer a sender gets up to N times each budget. That is the documented
//! trade: a budget is about load, so it need not be exact, and it costs no query.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimitSettings;

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `/o/token/`, `/o/introspect/`, `/o/revoke_token/`, by client IP.
    OAuthPerIp,
    /// The same endpoints, by the `client_id` presented.
    OAuthPerClient,
    /// `POST /login`, by client IP.
    LoginPerIp,
    /// `POST /signup`, by client IP.
    SignupPerIp,
}

/// This instance's buckets. A budget set to 0 is off.
pub struct RateLimits {
    oauth_per_ip: Option<DefaultKeyedRateLimiter<String>>,
    oauth_per_client: Option<DefaultKeyedRateLimiter<String>>,
    login_per_ip: Option<DefaultKeyedRateLimiter<String>>,
    signup_per_ip: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn limiter(
    per_period: u32,
    quota: fn(NonZeroU32) -> Quota,
) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_period).map(|n| DefaultKeyedRateLimiter::keyed(quota(n)))
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            oauth_per_ip: limiter(settings.oauth_per_ip_per_minute, Quota::per_minute),
            oauth_per_client: limiter(settings.oauth_per_client_per_minute, Quota::per_minute),
            login_per_ip: limiter(settings.login_per_ip_per_minute, Quota::per_minute),
            signup_per_ip: limiter(settings.signup_per_ip_per_hour, Quota::per_hour),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `key`'s bucket: `Err(seconds to wait)` when it is empty.
    /// The whole budget is available at once (a burst), then it refills evenly.
    pub fn check(&self, budget: Budget, key: &str) -> Result<(), i64> {
        let limiter = match budget {
            Budget::OAuthPerIp => &self.oauth_per_ip,
            Budget::OAuthPerClient => &self.oauth_per_client,
            Budget::LoginPerIp => &self.login_per_ip,
            Budget::SignupPerIp => &self.signup_per_ip,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            metrics::counter!("bridgekeeper_rate_limited_total", "budget" => budget.label())
                .increment(1);
            // Whole seconds, rounded up: `Retry-After` 0 would invite an at-once retry.
            let wait = not_until.wait_time_from(self.clock.now()).as_secs();
            i64::try_from(wait).unwrap_or(i64::MAX / 2) + 1
        })
    }

    /// Forgets the buckets that have refilled (a full bucket is the same as none), so
    /// that memory follows the senders of the last period, not every sender ever.
    pub fn forget_full_buckets(&self) {
        for limiter in [
            &self.oauth_per_ip,
            &self.oauth_per_client,
            &self.login_per_ip,
            &self.signup_per_ip,
        ]
        .into_iter()
        .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

impl Budget {
    fn label(self) -> &'static str {
        match self {
            Budget::OAuthPerIp => "oauth_per_ip",
            Budget::OAuthPerClient => "oauth_per_client",
            Budget::LoginPerIp => "login_per_ip",
            Budget::SignupPerIp => "signup_per_ip",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_minute: u32) -> RateLimitSettings {
        RateLimitSettings {
            oauth_per_ip_per_minute: per_minute,
            oauth_per_client_per_minute: per_minute,
            login_per_ip_per_minute: per_minute,
            signup_per_ip_per_hour: per_minute,
        }
    }

    #[test]
    fn a_budget_allows_its_burst_then_says_how_long_to_wait() {
        let limits = RateLimits::new(&settings(3));
        for _ in 0..3 {
            assert_eq!(limits.check(Budget::LoginPerIp, "203.0.113.7"), Ok(()));
        }
        let wait = limits
            .check(Budget::LoginPerIp, "203.0.113.7")
            .expect_err("the fourth in a minute waits");
        assert!((1..=21).contains(&wait), "{wait}");
        // Another sender and another budget have their own buckets.
        assert_eq!(limits.check(Budget::LoginPerIp, "203.0.113.8"), Ok(()));
        assert_eq!(limits.check(Budget::OAuthPerIp, "203.0.113.7"), Ok(()));
    }

    #[test]
    fn a_budget_of_zero_is_off() {
        let limits = RateLimits::new(&settings(0));
        for _ in 0..1000 {
            assert_eq!(limits.check(Budget::OAuthPerClient, "spa"), Ok(()));
        }
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let limits = RateLimits::new(&settings(3));
        assert_eq!(limits.check(Budget::SignupPerIp, "203.0.113.7"), Ok(()));
        limits.forget_full_buckets();
        assert_eq!(limits.check(Budget::SignupPerIp, "203.0.113.7"), Ok(()));
    }
}
