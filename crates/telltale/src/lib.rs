//! telltale: end-to-end checks of a self-hosted observability stack.
//!
//! This crate will hold the harness and CLI (stack model, scenarios, reports, benchmarks). Its
//! first piece is [`accounting`]: the per-item delivery ledger every scenario uses.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod accounting;
