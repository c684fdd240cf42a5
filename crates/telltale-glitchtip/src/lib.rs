//! A GlitchTip (Sentry-style) client for tests that must prove error delivery: the REST API,
//! DSNs, ingestion three ways, an envelope reader/writer, and a delivery check that reads every
//! event back.
//!
//! GlitchTip answers `200` to an event before it stores it, so "the SDK sent it" proves
//! nothing. This crate sends tagged events and polls the issues API until each one is visible.
//!
//! # Features
//!
//! - **REST client** ([`Client`], `/api/0/`, bearer token): probes ([`Client::whoami`],
//!   [`Client::settings`]); organizations, teams and projects (list, get, create, delete);
//!   project keys with their DSN; organization issues filtered by [`IssueQuery`] (`query`,
//!   `project`, `environment`, `sort`, `start`, `end`); one issue with resolve, ignore and
//!   delete; an issue's events, its latest event and an event's stored JSON.
//! - **Pagination**: cursors from the `Link` header, parsed leniently
//!   ([`parse_link_header`]: GlitchTip 5 prints it as a Python set, `{'<…>; rel="next"…'}`),
//!   and `X-Hits` on every [`Page`].
//! - **Typed errors**: [`ApiError`] with the status, an [`ErrorKind`] (401, 403, 404, 422
//!   with [`FieldError`]s, 429 with `Retry-After`, …) and the server's own words.
//! - **Bootstrap**: [`Client::ensure_stack`] and the `ensure_*` methods create what is
//!   missing and change nothing on a second run; the report holds every project's [`Dsn`].
//! - **Ingestion**: [`Ingestor`] sends envelopes and legacy store requests with the key in
//!   `X-Sentry-Auth`, `Authorization` or the query string, optionally gzip, deflate or brotli;
//!   [`SdkSender`] sends through the real `sentry` crate on its own thread and flushes.
//! - **Envelopes**: [`Envelope`] reads and writes several items with or without `length`,
//!   attachments, sessions and transactions; unknown items are skipped ([`Envelope::skipped`]);
//!   malformed framing gives [`Error::Envelope`], and an item of a JSON type (`event`,
//!   `transaction`, `session`, `span`, `log`…) whose payload is not a JSON object gives
//!   [`Error::EnvelopeItem`], both with the byte offset, line and column.
//! - **Delivery check**: [`DeliveryCheck`] sends N events tagged `run=<id>` and `seq=<n>`,
//!   polls until all are visible or a deadline passes, and reports each event's send→visible
//!   latency and the missing ones by tag ([`DeliveryReport`]).
//!
//! # Example: bootstrap, send, read back
//!
//! ```no_run
//! use telltale_glitchtip::{Client, DeliveryCheck, IngestPath, NewProject, StackSpec};
//!
//! # async fn run() -> Result<(), telltale_glitchtip::Error> {
//! let client = Client::builder_from_env()?.expect("GLITCHTIP_URL is set").build()?;
//! let spec = StackSpec::new("meridian", "backend")
//!     .project(NewProject::new("be-platform").platform("rust"));
//! let stack = client.ensure_stack(&spec).await?;
//! let dsn = stack.dsn("be-platform").unwrap().clone();
//! // Hand `dsn.expose()` to the app; `dsn` itself prints without its key.
//!
//! let report = DeliveryCheck::new("meridian", dsn, IngestPath::Envelope, 20)
//!     .run_with(&client)
//!     .await?;
//! assert!(report.is_complete(), "{report}");
//! # Ok(()) }
//! ```
//!
//! # Example: "my panic became a GlitchTip issue within 30 s"
//!
//! An app-side test sets up `sentry` as the app does, tags the scope with a run id, panics,
//! flushes, and waits for the issue:
//!
//! ```no_run
//! use std::time::Duration;
//! use telltale_glitchtip::{Client, Dsn};
//!
//! # async fn run(dsn: Dsn) -> Result<(), telltale_glitchtip::Error> {
//! let run_id = telltale_glitchtip::new_run_id();
//! // The app's own setup (with `sentry`'s `panic` feature, as be-platform has it).
//! let guard = sentry::init((dsn.expose(), sentry::ClientOptions::default()));
//! sentry::configure_scope(|scope| scope.set_tag("run", &run_id));
//! let _ = std::thread::spawn(|| panic!("boom in the worker")).join();
//! // `flush` blocks: keep it off async worker threads.
//! tokio::task::spawn_blocking(move || guard.flush(Some(Duration::from_secs(5))))
//!     .await
//!     .unwrap();
//!
//! let client = Client::builder_from_env()?.expect("GLITCHTIP_URL is set").build()?;
//! let issue = client
//!     .wait_for_tagged_issue("meridian", "run", &run_id, Duration::from_secs(30))
//!     .await?;
//! assert_eq!(issue.metadata.value.as_deref(), Some("boom in the worker"));
//! # Ok(()) }
//! ```
//!
//! `tests/live_panic.rs` runs exactly this against a real server.
//!
//! # Limitations
//!
//! - A wrong DSN key makes GlitchTip refuse **every** key of that project for about 30 s
//!   ([`ApiError::is_dsn_rejection`]); negative tests belong in a throwaway project.
//! - GlitchTip stores a duplicate `event_id` twice through store (envelopes deduplicate), so
//!   [`Ingestor`] never retries after a transport error or timeout.
//! - The `sentry` SDK reports no HTTP outcome; [`SdkSender`] says only whether its queue
//!   drained. Its transport queues at most 30 envelopes and **drops the rest of a burst
//!   silently** while its flush still succeeds (60 events captured at once: 30 stored, measured
//!   on GlitchTip 5.1). [`DeliveryCheck`] lists such losses by tag; pace with
//!   [`DeliveryCheck::sdk_flush_every`] when the burst is not what is under test.
//! - Deleting a project while its events are still queued makes GlitchTip's worker fail the
//!   whole batch it is processing (a foreign-key error), losing **other projects'** events of
//!   that batch too. Wait until a throwaway project's events are visible before deleting it.
//! - [`Client::delete_issue`] hides the issue from listings at once; `GET /issues/{id}/`
//!   answers it until the worker removes it (about 0.2 s on an idle server).

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod bootstrap;
mod client;
mod delivery;
mod dsn;
mod envelope;
mod error;
mod event;
#[cfg(test)]
mod fixture_tests;
mod ingest;
mod pagination;
mod sdk;
mod time;
mod types;

pub use crate::bootstrap::{Created, StackProject, StackReport, StackSpec};
pub use crate::client::{Client, ClientBuilder, IssueQuery, IssueSort};
pub use crate::delivery::{
    new_run_id, DeliveryCheck, DeliveryReport, EventOutcome, IngestPath, LatencySummary,
};
pub use crate::dsn::Dsn;
pub use crate::envelope::{
    Compression, Envelope, EventSummary, Headers, Item, ItemType, Lengths, SkippedItem,
    DEFAULT_MAX_DECOMPRESSED,
};
pub use crate::error::{ApiError, Error, ErrorKind, FieldError};
pub use crate::event::{new_event_id, Level, NewEvent};
pub use crate::ingest::{Accepted, AuthPlacement, Ingestor, IngestorBuilder, SendOptions};
pub use crate::pagination::{parse_link_header, Cursor, Link, Page};
pub use crate::sdk::{SdkReport, SdkSender};
pub use crate::time::{format_rfc3339, parse_rfc3339};
pub use crate::types::Team;
pub use crate::types::{
    ApiRoot, Event, EventJson, Issue, IssueMetadata, IssueStatus, NewProject, Organization,
    Project, ProjectKey, ProjectRef, RateLimit, ServerSettings, Tag, TeamRef, TokenInfo, User,
};
pub use telltale_http::{Auth, RetryPolicy, Secret};
