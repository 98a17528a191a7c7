//! Credentials: API bearer tokens (and, in `stores`, 1C store keys). Stored hashed, printed once.

pub mod tokens;
