//! The library half of `cargo xtask`: its command line ([`cli`]), which the binary parses
//! and tests check the documented commands against.

pub mod cli;
