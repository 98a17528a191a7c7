//! Orders: placing them (with cashback holds), completing and cancelling them, paying and
//! refunding them (called by the gateways), reading them, and expiring unpaid ones.
//!
//! Shape: routes (`/api/orders`) → commands (`place`, `lifecycle`, and `payment`, which the
//! gateways' commands call to pay or refund inside their own append; `expiry` runs `lifecycle`
//! on a timer) → order events on `order-<id>` (folded by `state`) → projection `orders_view`
//! (read by `view`).

pub mod expiry;
pub mod fx_quote;
pub mod lifecycle;
pub mod metrics;
pub mod payment;
pub mod place;
pub mod routes;
pub mod state;
pub mod view;
