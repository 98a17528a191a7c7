//! The payment channels a report knows, by name. A gateway plugs in with one entry: the name
//! its `order_payments` rows and `OrderPaid` events carry, the stream type of its records, its
//! own states that mean "the amount did not match", and whether it has a statement to upload.
//! Nothing here depends on a gateway's code.

/// A gateway whose records are `order_payments` rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gateway {
    pub name: &'static str,
    /// `<stream type>-<provider id>` is the record's stream; its first event dates it.
    pub stream_type: &'static str,
    /// States (the provider's own) recorded when the amount paid was not the order's.
    pub mismatch_states: &'static [&'static str],
    /// Whether `POST /api/reports/reconciliation/upload` takes this provider's statement.
    pub uploads: bool,
}

pub const GATEWAYS: &[Gateway] = &[
    Gateway {
        name: "payme",
        stream_type: "payme_tx",
        mismatch_states: &[],
        uploads: true,
    },
    Gateway {
        name: "crystalpay",
        stream_type: "crystalpay_invoice",
        mismatch_states: &["wrongamount"],
        uploads: true,
    },
    Gateway {
        name: "telegram",
        stream_type: "telegram_payment",
        mismatch_states: &["total_mismatch"],
        uploads: false,
    },
];

/// 1C registers: their records are the in-store cashback operations of the log.
pub const ONEC: &str = "1c";

/// What a report was asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Gateway(Gateway),
    Onec,
}

impl Provider {
    pub fn named(name: &str) -> Option<Provider> {
        if name == ONEC {
            return Some(Provider::Onec);
        }
        GATEWAYS
            .iter()
            .find(|gateway| gateway.name == name)
            .map(|gateway| Provider::Gateway(*gateway))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Provider::Gateway(gateway) => gateway.name,
            Provider::Onec => ONEC,
        }
    }

    /// Every provider, in the order the operator page lists them.
    pub fn all() -> Vec<Provider> {
        GATEWAYS
            .iter()
            .map(|gateway| Provider::Gateway(*gateway))
            .chain([Provider::Onec])
            .collect()
    }

    /// The names, for error messages.
    pub fn names() -> String {
        Provider::all()
            .iter()
            .map(Provider::name)
            .collect::<Vec<_>>()
            .join("|")
    }
}
