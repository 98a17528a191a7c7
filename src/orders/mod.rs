//! Orders: placing them (with cashback holds), completing and cancelling them, paying and
//! refunding them (called by the gateways), reading them, and expiring unpaid ones.

pub mod expiry;
pub mod lifecycle;
pub mod payment;
pub mod place;
pub mod routes;
pub mod state;
pub mod view;
