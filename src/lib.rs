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

/// Every binary built on the server — `ledger`, the tests, the in-process benchmarks — allocates
/// with mimalloc. A request allocates and frees hundreds of small buffers (HTTP, JSON, SQL
/// rows); under load glibc's malloc and free, with their consolidation of freed chunks, were
/// 17 % of the process's CPU (`perf`, 1C singles at 400/s). Declared in the library, not in
/// `main.rs`, so that what the benchmarks measure is what `ledger serve` runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
