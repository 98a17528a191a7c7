//! Cashback accounts: reading and locking a customer's balance for a decision, and the
//! customer-facing history route. 1C operations live in `onec/`; online holds and accruals are
//! decided by the order commands.

pub mod account;
pub mod routes;
