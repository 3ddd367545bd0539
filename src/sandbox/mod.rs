//! The sandbox: a Stripe emulator that speaks Stripe's wire format on loopback.
