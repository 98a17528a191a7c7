//! Property tests: the parsers that read what clients send never panic, whatever they are given,
//! and what they accept keeps its invariants. Each property runs a fixed number of cases (set
//! explicitly, a couple of seconds at most in a debug build); a failure prints the minimal input
//! and the seed that found it (proptest's regression files are not committed: see .gitignore).
//!
//! The Telegram `initData` parser has its own properties next to its other tests
//! (tests/telegram/init_data.rs).

mod json;
mod money;
mod onec_item;
mod payme_envelope;
mod phone;
