//! Customers: registration by phone and/or Telegram id, phone normalisation, the customer's
//! event-sourced state.

pub mod phone;
pub mod register;
pub mod routes;
pub mod state;
