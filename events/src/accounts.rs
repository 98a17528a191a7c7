//! Names of ledger accounts (`customer:<id>:cashback:<currency>`, `order:<id>:receivable`,
//! `store:<id>:cashback_issued`, ...): the accounts double-entry postings move money between.
//! One function per kind, so no code spells an account name by hand. Sign convention: balances
//! are debits minus credits; liabilities we owe (a customer's cashback) therefore carry negative
//! raw balances, shown positive to people.

use crate::money::Currency;

/// What the shop owes a customer in cashback, per currency.
pub fn customer_cashback(customer_id: &str, currency: &Currency) -> String {
    format!("customer:{customer_id}:cashback:{currency}")
}

/// What the buyer still owes for an order (debited when placed, credited by payments).
pub fn order_receivable(order_id: &str) -> String {
    format!("order:{order_id}:receivable")
}

/// Sales recognised when orders are placed (credited), reversed when they are cancelled.
pub fn shop_sales() -> String {
    "shop:sales".to_owned()
}

/// Money received through a gateway and not yet settled to the shop's bank account.
pub fn gateway_clearing(provider: &str) -> String {
    format!("gateway:{provider}:clearing")
}

/// Money a gateway took that paid no order (a late or mismatching charge), held until it is
/// refunded.
pub fn gateway_unapplied(provider: &str) -> String {
    format!("gateway:{provider}:unapplied")
}

/// Cashback the online shop has granted (its expense).
pub fn shop_cashback_issued() -> String {
    "shop:cashback_issued".to_owned()
}

/// Cashback a 1C store has granted at its registers.
pub fn store_cashback_issued(store_id: &str) -> String {
    format!("store:{store_id}:cashback_issued")
}

/// Cashback customers spent at a 1C store's registers (the store was paid with it).
pub fn store_cashback_redeemed(store_id: &str) -> String {
    format!("store:{store_id}:cashback_redeemed")
}

/// Where a payment in one currency meets an order priced in another (Payme pays UZS for a USD
/// order): each currency balances on its own through this account.
pub fn fx_conversion() -> String {
    "fx:conversion".to_owned()
}
