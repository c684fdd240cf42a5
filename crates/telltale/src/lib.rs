//! telltale: end-to-end checks of a self-hosted observability stack.
//!
//! - [`stack`]: the one model of `stack.toml` and of the JSON the NixOS module writes;
//! - [`scenario`]: what `telltale check` runs against a stack, each scenario returning checks,
//!   delivery accounting and evidence;
//! - [`accounting`]: the per-item delivery ledger (delivered, late, duplicated, out of order,
//!   missing) every delivery scenario and the bench use;
//! - [`webhook`]: the webhook receiver telltale runs to prove what reached it;
//! - [`report`]: the run's outcome as a table, versioned JSON (`docs/report.md`) or JUnit XML.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod accounting;
pub mod bench;
pub mod canary;
pub mod report;
pub mod scenario;
pub mod stack;
pub mod webhook;
