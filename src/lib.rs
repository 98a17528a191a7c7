//! The Ledger server: an event-sourced ledger for shops selling through a Telegram Mini App and
//! a 1C-Bitrix site, paid through Payme, CrystalPay and Telegram, with a cashback programme
//! shared with 1C:Retail registers.
//!
//! Layout: [`http`] (router, errors, auth), one folder per domain or gateway ([`customers`],
//! [`orders`], [`cashback`], [`admin`], ...), [`command`] (how a write decides and appends),
//! [`app`] (state and lifecycle), [`cli`] (the `ledger` commands).

pub mod admin;
pub mod app;
pub mod cashback;
pub mod cli;
pub mod command;
pub mod config;
pub mod customers;
pub mod database;
pub mod fx;
pub mod http;
pub mod keys;
pub mod onec;
pub mod orders;
pub mod payme;
pub mod projection_runtime;
pub mod security;
