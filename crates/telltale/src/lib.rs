//! telltale: end-to-end checks of a self-hosted observability stack.
//!
//! This crate holds the harness and the `telltale` CLI. Today: [`accounting`], the per-item
//! delivery ledger every scenario will use; [`stack`], the one model of `stack.toml` and of the
//! JSON the NixOS module writes; and the CLI's `decode`, `metrics lint` and
//! `glitchtip bootstrap` commands. Scenarios (`check`), `bench` and `up` arrive with the harness
//! issue.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod accounting;
pub mod stack;
