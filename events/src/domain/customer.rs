//! Customer facts (stream `customer-<id>`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerRegistered {
    pub customer_id: String,
    /// Normalised digits only: `7` + 10 digits (Russia) or `998` + 9 digits (Uzbekistan).
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub telegram_id: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A Telegram account was linked to an existing customer (Mini App login).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerTelegramLinked {
    pub customer_id: String,
    pub telegram_id: i64,
}

/// A phone was linked to an existing customer (first known only by Telegram).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerPhoneLinked {
    pub customer_id: String,
    pub phone: String,
}
