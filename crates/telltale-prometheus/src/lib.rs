//! Prometheus for tests: a typed HTTP API client, a strict exposition parser, and metrics
//! contracts (being written).

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod api;
mod error;
pub mod exposition;

pub use crate::api::{Client, ClientBuilder, QueryOptions, TargetState};
pub use crate::error::{ApiError, ApiErrorType, Error};
pub use telltale_http::{Auth, RetryPolicy, Secret};
