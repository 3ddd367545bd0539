//! Typed columns: row ids that cannot be mixed up (a client's row id is no user id),
//! and the closed sets of values some text columns hold, refused on the way in and on
//! the way out (a row saying `"publc"` fails to load, loudly, instead of being read as
//! something else).

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use diesel_derive_newtype::DieselNewType;

macro_rules! row_id {
    ($($(#[$doc:meta])* $name:ident;)+) => {
        $(
            $(#[$doc])*
            #[derive(
                Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, DieselNewType,
                serde::Serialize, serde::Deserialize,
            )]
            #[serde(transparent)]
            pub struct $name(pub i64);

            impl std::fmt::Display for $name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    self.0.fmt(f)
                }
            }
        )+
    };
}

row_id! {
    /// A person's account (`users.id`); a business is the account that signed it up.
    UserId;
    /// A registered OAuth client's row (`oauth_clients.id`; its public name is the
    /// `client_id` string).
    ClientPk;
    /// A user's consent to a client (`oauth_grants.id`).
    GrantId;
    /// A business's Stripe connection (`stripe_connections.id`).
    ConnectionId;
    /// A customer a business recorded (`customers.id`; Stripe's id is `cus_…`).
    CustomerPk;
    /// A logged-in browser session (`user_sessions.id`; the cookie holds a random
    /// token whose hash is the row's lookup key).
    SessionId;
}

macro_rules! text_enum {
    (
        $(#[$doc:meta])*
        pub enum $name:ident { $($(#[$variant_doc:meta])* $variant:ident = $text:literal,)+ }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$variant_doc])* $variant,)+
        }

        impl $name {
            pub fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB> ToSql<Text, DB> for $name
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> FromSql<Text, DB> for $name
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let raw = String::from_sql(bytes)?;
                Self::parse(&raw).ok_or_else(|| {
                    format!(concat!("not a ", stringify!($name), ": {:?}"), raw).into()
                })
            }
        }
    };
}

text_enum! {
    /// Whether a client can keep a secret (RFC 6749 §2.1).
    pub enum ClientType {
        /// SPAs and native apps: cannot keep a secret.
        Public = "public",
        /// Back ends: authenticate with a secret.
        Confidential = "confidential",
    }
}

text_enum! {
    pub enum ConnectionStatus {
        Connected = "connected",
        Revoked = "revoked",
    }
}

text_enum! {
    /// Who ended a Stripe connection.
    pub enum RevokedBy {
        /// The business, on the Connect tab (Stripe confirmed).
        Business = "business",
        /// The business, and Stripe said the account was no longer connected.
        StripeAlreadyDisconnected = "stripe_already_disconnected",
        /// Stripe, by webhook: the account's owner removed the platform.
        StripeWebhook = "stripe_webhook",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_text_reads_back_as_its_value() {
        for t in [ClientType::Public, ClientType::Confidential] {
            assert_eq!(ClientType::parse(t.as_str()), Some(t));
        }
        for s in [ConnectionStatus::Connected, ConnectionStatus::Revoked] {
            assert_eq!(ConnectionStatus::parse(s.as_str()), Some(s));
        }
        for r in [
            RevokedBy::Business,
            RevokedBy::StripeAlreadyDisconnected,
            RevokedBy::StripeWebhook,
        ] {
            assert_eq!(RevokedBy::parse(r.as_str()), Some(r));
        }
        assert_eq!(ClientType::parse("publc"), None);
    }
}
