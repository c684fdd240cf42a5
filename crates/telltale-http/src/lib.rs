//! Shared HTTP plumbing for telltale's client crates: secrets read from files or the
//! environment, basic and bearer auth, TLS (rustls) with extra trusted CAs, timeouts, and a
//! full-jitter retry policy that honours `Retry-After`.
//!
//! This crate serves the other telltale crates, which re-export the user-facing parts
//! ([`Secret`], [`Auth`], [`RetryPolicy`]). Its [`Http`] type exposes `reqwest` and `rustls`
//! types for the client crates' WebSocket needs; those never reach a client crate's public API.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod auth;
mod error;
mod retry;
mod transport;

pub use crate::auth::{Auth, Secret};
pub use crate::error::{BoxError, Error};
pub use crate::retry::{parse_retry_after, RetryPolicy};
pub use crate::transport::{Answer, Body, Http, HttpConfig, Method};
