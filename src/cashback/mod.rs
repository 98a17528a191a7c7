//! Cashback accounts: a customer's balance per currency, as commands lock it and as clients
//! read it.
//!
//! Shape: routes (`GET /api/customers/{id}/cashback`) → `account` (a balance locked for a
//! decision; the deciding commands live with their cause: online holds and accruals in
//! `orders/`, in-store operations in `onec/`) → cashback events on `cashback-<customer>` →
//! projections `cashback_balances` (inline) and `cashback_history`.

pub mod account;
pub mod routes;
