//! HTTP plumbing shared by every route: errors, authentication, bodies, read-your-writes,
//! metrics, health, the OpenAPI document, the router that joins the domain routes, the guards
//! every route gets (load shedding, time-out, panics) and the server that accepts connections.

pub mod auth;
pub mod body;
pub mod connection_watch;
pub mod consistency;
pub mod error;
pub mod extract;
pub mod guards;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod request;
pub mod router;
pub mod server;
