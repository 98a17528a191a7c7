//! HTTP plumbing shared by every route: errors, authentication, bodies, read-your-writes,
//! metrics, health, the OpenAPI document and the router that joins the domain routes.

pub mod auth;
pub mod body;
pub mod consistency;
pub mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod request;
pub mod router;
