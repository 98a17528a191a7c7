//! Reports for accountants (`reports:read`): reconciliation of each payment channel against the
//! orders for a period, the trial balance at any moment, and a provider's own statement matched
//! line by line against our records (docs/reports.md).
//!
//! Shape: routes → reads of the log and of the projections. No commands and no events: a
//! report changes nothing. A report reads the event log where it must answer "as of" a moment
//! (postings, 1C operations, which provider paid an order) and the read models where it needs
//! the current state of a gateway record.
//!
//! Providers plug in by name ([`providers`]): a gateway's records are the `order_payments`
//! rows of its provider name, dated by the first event of their stream (`<stream type>-<id>`),
//! so a new gateway's rows appear in every report once its events and rows exist.

pub mod csv;
pub mod period;
pub mod providers;
pub mod reconciliation;
pub mod routes;
pub mod trial_balance;
pub mod upload;
