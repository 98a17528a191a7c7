//! The Ledger server: an event-sourced ledger for shops selling through a Telegram Mini App and
//! a 1C-Bitrix site, paid through Payme, CrystalPay and Telegram, with a cashback programme
//! shared with 1C:Retail registers.
//!
//! Dependencies point one way:
//! - [`app`] knows every area and wires routes, gauges and background jobs together;
//! - the business areas ([`customers`], [`orders`], [`cashback`], [`payme`], [`onec`],
//!   [`telegram`], [`admin`], [`reports`]) each have the shape routes → commands → events →
//!   projection (the read-only ones: routes → reads);
//! - what areas share: [`state`] (the leaf holding pool, store, settings and caches),
//!   [`command`] (how a write decides and appends), [`rejection`] (the domain's refusals) and
//!   [`http`] (errors, auth, bodies, the router's layers);
//! - [`infra`]: database, projector runtime, metrics registry, rate source, security primitives.

pub mod admin;
pub mod app;
pub mod cashback;
pub mod cli;
pub mod command;
pub mod config;
pub mod crystalpay;
pub mod customers;
pub mod http;
pub mod infra;
pub mod onec;
pub mod orders;
pub mod payme;
pub mod rejection;
pub mod reports;
pub mod state;
pub mod telegram;
