//! pprof profiles for delivery tests against Grafana Pyroscope: a synthetic profile tagged with a
//! run id, and the pprof codec (`profile.proto`, gzip or not) behind it.
//!
//! The message layout is `google.v1.Profile` as Pyroscope @256a79cc vendors it
//! (`api/google/v1/profile.proto`, identical in fields to `github.com/google/pprof/proto/profile.proto`):
//! every string is an index into `string_table`, whose entry 0 is `""`; samples name locations,
//! locations name functions through lines. This crate's [`Profile`] resolves all of that into
//! plain stacks of function names (leaf first, as pprof orders them), so the `prost` messages
//! stay internal.
//!
//! Not run against a real Pyroscope here: the server did not finish building in this session.
//! The decoder is checked against a profile written by Go's own `runtime/pprof` (`fixtures/pprof/`).

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod pprof;

pub use crate::pprof::{decode, encode, Profile, Sample, ValueType};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a pprof profile (after gunzip when they start with the gzip magic).
    #[error("decode pprof profile: {reason}")]
    Decode {
        /// What did not match.
        reason: String,
    },
}
