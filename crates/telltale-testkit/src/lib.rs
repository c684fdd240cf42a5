//! Containers for app-side tests: Loki, Prometheus, Grafana Alloy, Grafana and GlitchTip,
//! started as one stack on one network, handing back the same stack description the
//! `telltale` harness reads from `stack.toml`.
//!
//! An application's own test suite ("my log line reaches Loki with these labels", "my panic
//! becomes a GlitchTip issue", "Prometheus scrapes my `/metrics`") gets the real servers
//! without a NixOS VM, and asserts through the typed clients (`telltale-loki`,
//! `telltale-glitchtip`, `telltale-prometheus`).
//!
//! # Example
//!
//! ```no_run
//! use telltale_testkit::Stack;
//!
//! # async fn run() -> Result<(), telltale_testkit::Error> {
//! let stack = match Stack::builder().loki().glitchtip().start().await {
//!     Ok(stack) => stack,
//!     Err(e) if e.is_no_engine() => {
//!         eprintln!("skipped: {e}");
//!         return Ok(());
//!     }
//!     Err(e) => return Err(e),
//! };
//! let loki = stack.loki_url().unwrap();
//! let dsn = stack.glitchtip_dsn("be-platform").unwrap();
//! // Run the app with `dsn.expose()` and `loki`, then read back through the clients;
//! // `stack.description()` is what `telltale check` would be given.
//! # let _ = (loki, dsn);
//! # Ok(()) }
//! ```
//!
//! # The containers
//!
//! | service | image ([`images`]) | ready when | configured as |
//! |---|---|---|---|
//! | Loki | `grafana/loki:3.5.7` | `GET /ready` is 200 | single binary, filesystem, TSDB v13, one tenant, compactor retention 30 d |
//! | Prometheus | `prom/prometheus:v3.5.0` | `GET /-/ready` is 200 | scrapes itself, Alloy, and `host.docker.internal:<port>` for each [`StackBuilder::scrape_host`]; retention 90 d; remote-write receiver on |
//! | Alloy | `grafana/alloy:v1.5.1` | `GET /-/ready` is 200 | OTLP gRPC/HTTP → Loki (logs) and Prometheus (metrics), traces dropped; Faro → Loki with `source=pwa-faro`; no journald |
//! | Grafana | `grafana/grafana:11.3.1` | `GET /api/health` is 200 | Loki and Prometheus datasources provisioned from files; admin password from a file |
//! | GlitchTip | `glitchtip/glitchtip:v5.1.0` web + worker, `postgres:17-alpine`, `redis:7-alpine` | web: `GET /_health/` is 200 after migrations; worker: a canary event is visible through the API | a full-scope API token made in the web container, then `telltale-glitchtip`'s `ensure_stack` |
//!
//! No readiness check is a sleep. PostgreSQL and Redis come from testcontainers-modules and
//! wait on their own log lines.
//!
//! # Engines
//!
//! Docker and Podman. `start()` first pings `DOCKER_HOST`, or when it is unset Docker's
//! sockets and then Podman's (`$XDG_RUNTIME_DIR/podman/podman.sock`,
//! `/run/podman/podman.sock`), and sets `DOCKER_HOST` to the one that answered. With none,
//! it returns [`Error::NoEngine`] at once; [`Error::is_no_engine`] lets a test print a skip
//! line instead of passing silently.
//!
//! Containers reach the test's machine as `host.docker.internal` (Docker's `host-gateway`;
//! Podman 4.7 or newer). An app Prometheus scrapes must listen on `0.0.0.0`.
//!
//! # Failure output and cleanup
//!
//! Every container's stdout and stderr are captured from creation on (the last 256 KiB
//! each). When a container fails to start, all captured output is written to stderr and the
//! error carries the failing container's last lines. When a [`Stack`] is dropped during a
//! panic (a failed assertion), it writes all of it before the containers go. Dropping a
//! [`Stack`] removes its containers and network; drop it inside its Tokio runtime.
//!
//! # Limitations
//!
//! - The stack description has no journald units (a container has none) and no firewall,
//!   edge or backup sections: those scenarios are unavailable against containers.
//! - Grafana's shared `operator` user is not created.
//! - GlitchTip is published on a host port picked free just before start; another process
//!   could take it in between, and the start then fails with the engine's error.
//! - A `canary` project (`telltale-canary`) holds the readiness event; it is not among
//!   the DSNs handed back.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod config;
mod engine;
mod error;
mod glitchtip;
pub mod images;
mod plan;
mod stack;
mod start;

pub use crate::error::{Error, NO_ENGINE_HINT};
pub use crate::glitchtip::GlitchTip;
pub use crate::plan::{Service, StackBuilder};
pub use crate::stack::Stack;
