//! Customers: registration by phone and/or Telegram id, phone normalisation, the customer's
//! event-sourced state.
//!
//! Shape: routes (`POST /api/customers`) → `register` (the command; finds or links an existing
//! customer) → customer events on `customer-<id>` → projections `customer_index` (inline: the
//! lookups every write uses at once) and `customers_view`.

pub mod phone;
pub mod register;
pub mod routes;
pub mod state;
