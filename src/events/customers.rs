//! What happens to the customers a business records.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerEvent {
    Recorded {
        customer_id: String,
        account: String,
    },
    Forgotten {
        customer_id: String,
    },
}

impl CustomerEvent {
    pub fn action(&self) -> &'static str {
        match self {
            CustomerEvent::Recorded { .. } => "customer.recorded",
            CustomerEvent::Forgotten { .. } => "customer.forgotten",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            CustomerEvent::Recorded {
                customer_id,
                account,
            } => format!("{customer_id} ({account})"),
            CustomerEvent::Forgotten { customer_id } => customer_id.clone(),
        }
    }
}
