//! A writer for systemd-journald's native protocol and a reader of `journalctl -o json`, for
//! tests that inject exactly-known log lines and must find every one of them again.
//!
//! # Features
//!
//! - **Writer** ([`Writer`]): sends [`Entry`]s as datagrams to `/run/systemd/journal/socket`
//!   (or another path), binary-safe (`NAME=value\n`, or the length-prefixed form for values
//!   with a newline), and hands entries too large for one datagram to journald through a
//!   sealed memfd passed with `SCM_RIGHTS`, exactly as `sd_journal_sendv()` does. Every entry
//!   carries the run id and a sequence number (`TELLTALE_RUN`, `TELLTALE_SEQ`; both names
//!   configurable). Field names are checked by journald's own rule ([`FieldName`]) and entries
//!   journald would drop are refused before sending, because journald drops them silently.
//! - **Reader** ([`Reader`], [`Query`]): runs `journalctl --output=json --all --no-pager` on the
//!   system journal, a `--directory`, `--file`s, a `--root` or a `--namespace`, with match
//!   terms, and parses every value back to bytes (journalctl prints non-UTF-8 and
//!   control-character values as arrays of byte numbers and repeated fields as arrays).
//!   [`Reader::wait_for`] polls until exactly the expected sequence numbers are there and
//!   reports missing, duplicated and unexpected ones ([`Collected`]).
//! - **Wire format** ([`encode`], [`decode`]): the native protocol both ways; the decoder is
//!   strict where journald is silent, for tests.
//! - **`telltale-journald-send`**, a small binary that sends numbered entries, for running the
//!   writer as another process — inside a systemd unit, for instance.
//!
//! # Example
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use telltale_journald::{unique_run_id, Entry, Priority, Query, Reader, Writer};
//!
//! let writer = Writer::builder(unique_run_id("smoke"))?.identifier("smoke-test").build()?;
//! for i in 0..100 {
//!     writer.send(&Entry::message(format!("line {i}")).with_priority(Priority::Info))?;
//! }
//! let found = Reader::system().wait_for(
//!     &Query::for_writer(&writer),
//!     100,
//!     Instant::now() + Duration::from_secs(10),
//! )?;
//! assert_eq!(found.entries[42].get_str("MESSAGE"), Some("line 42"));
//! # Ok::<(), telltale_journald::Error>(())
//! ```
//!
//! A successful [`Writer::send`] means the kernel queued the message on journald's socket, not
//! that journald stored it: a journald killed right then loses what is still queued. Only
//! reading the entry back proves delivery.
//!
//! # Making lines count as coming from a systemd unit
//!
//! `_SYSTEMD_UNIT` is a *trusted* field: clients cannot send it (journald drops fields whose
//! name starts with `_`, and [`FieldName`] refuses them). journald derives it from the cgroup
//! of the sending process, which it reads from `/proc/<pid>/cgroup` using the PID in the
//! socket credentials (`src/journal/journald-context.c`): a process in
//! `…/system.slice/fake-app.service` sends entries with `_SYSTEMD_UNIT=fake-app.service`
//! and `_SYSTEMD_SLICE=system.slice`. So a test that needs lines "from" a unit runs the writer
//! *inside* that unit. In a NixOS VM test, either
//!
//! - start it as a transient unit:
//!   `systemd-run --unit=fake-app --collect --pipe --wait telltale-journald-send --run "$RUN"
//!   --count 1000 --identifier fake-app` (entries carry `_SYSTEMD_UNIT=fake-app.service`); or
//! - declare a stand-in unit in the VM's configuration, e.g.
//!   `systemd.services.fake-app.serviceConfig = { Type = "oneshot"; ExecStart = "… --run r1"; }`,
//!   and `systemctl start fake-app`.
//!
//! `OBJECT_PID=` does not help: journald (for root senders) adds `OBJECT_SYSTEMD_UNIT` and
//! friends for that PID, never `_SYSTEMD_UNIT`. Grafana Alloy's `loki.source.journal` exposes
//! the field as the internal label `__journal__systemd_unit` (every journal field `F` becomes
//! `__journal_f`, lowercased), which a relabel rule turns into a real label:
//!
//! ```text
//! loki.relabel "journal" {
//!   forward_to = []
//!   rule {
//!     source_labels = ["__journal__systemd_unit"]
//!     target_label  = "unit"
//!   }
//! }
//! loki.source.journal "read" {
//!   forward_to    = [loki.write.default.receiver]
//!   relabel_rules = loki.relabel.journal.rules
//! }
//! ```
//!
//! journald rate-limits per unit (`RateLimitIntervalSec=30s`, `RateLimitBurst=10000` by
//! default, scaled up with free disk space) and logs `Suppressed N messages from
//! fake-app.service` when it drops lines; for load tests raise `services.journald.rateLimitBurst`
//! in the VM, or set `LogRateLimitIntervalSec=0` on the stand-in unit. Outside systemd, as in
//! this crate's live tests, the same effect comes from moving the sending process into a cgroup
//! v2 directory named like a unit (`<cgroup2 mount>/telltale-1.slice/telltale-fake-app.service`),
//! which the test `entries_from_a_process_in_a_unit_cgroup_carry_that_unit` does.
//!
//! # Testing against a real journald
//!
//! `tests/live.rs` starts one Debian bookworm `systemd-journald` (systemd 252) per test, as
//! root, without systemd as PID 1:
//!
//! ```text
//! SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console \
//!   unshare --mount --propagation private -- \
//!   sh -c 'mount --bind "$1" /run && exec "$2"' sh <dir>/run /lib/systemd/systemd-journald
//! ```
//!
//! with `<dir>/run/systemd/journald.conf.d/telltale.conf` setting `Storage=volatile`,
//! `RateLimitBurst=0`, `ReadKMsg=no`, `ForwardToSyslog/KMsg/Console/Wall=no` and `Audit=` (empty:
//! leave kernel auditing as it is; journald 252's default `Audit=no` actively turns it *off*).
//! journald listens only on fixed paths — `/run/systemd/journal/socket`, or
//! `/run/systemd/journal.<namespace>/socket` for a journal namespace — with no option to bind
//! elsewhere. Bind-mounting a test folder over `/run` in a private mount namespace makes those
//! fixed paths land in the folder, so the test process, outside the namespace, writes to
//! `<dir>/run/systemd/journal/socket` and reads `<dir>/run/log/journal/<machine-id>/` with
//! `journalctl --directory` (or `--root=<dir>`) by their real paths. Nothing runs inside the
//! namespace except journald, and nothing outside `<dir>` is written. Other ways that work:
//! a tmpfs over `/run` in the namespace, reached from outside through
//! `/proc/<journald pid>/root/run/systemd/journal/socket` (the journal is lost when journald
//! exits), or running the writer inside the namespace (`nsenter --mount --target <pid>`).
//! `fixtures/journald/README.md` has the details and what each test covers; tests print
//! `skipped: …` when root, `unshare`, `systemd-journald` or `journalctl` is missing, and fail
//! instead when `TELLTALE_JOURNALD_REQUIRED=1`.
//!
//! Found on the way: journald stores each distinct `FIELD=value` of an entry once (a repeated
//! identical value disappears) and journalctl prints repeated values in storage order, which is
//! sending order only for values the journal file has not seen before; values of 4096 bytes or
//! more are printed as `null` without `--all`; with the default `net.unix.max_dgram_qlen` (10
//! on the test VM) a fast writer blocks until journald drains its queue.
//!
//! # Measured throughput
//!
//! `cargo bench -p telltale-journald --bench encode`, one thread on a 2-vCPU AMD EPYC VM (the
//! project's CI machine kind), 2026-11-22, while other builds kept the load average at 3–6 (the
//! bench ran under `nice -n -15`; four runs, so expect ±30 %). Encoding what [`Writer::send`]
//! sends — `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`, run id and sequence number:
//! **11–16 million records/s** for a 100-byte message (about 190 bytes on the wire), 3.3–5.0
//! million/s for a 1 KiB message, 13–19 million/s for a 220-byte multi-line message in the
//! length-prefixed form. The strict decoder manages 2.1–2.8, 1.3–1.5 and 1.8–2.2 million
//! records/s. The encoder is not what limits a writer: the same VM pushed about 53 000
//! entries/s through the socket into a live journald (one `telltale-journald-send` process,
//! 20 000 entries), and `journalctl -o json --all` printed about 34 000 entries/s. The crate
//! README has the table.
//!
//! # Limitations
//!
//! - Linux only (Unix datagram sockets with `SCM_RIGHTS`, `memfd_create`). No fallback to a
//!   file in `/dev/shm` for kernels without memfds (before 3.17), unlike `sd_journal_sendv()`.
//! - The reader is blocking (it runs `journalctl`); from async code use `spawn_blocking`.
//! - journald's own limits apply: at most 1024 fields per entry, 768 MiB per value, 770 MiB per
//!   entry ([`ENTRY_FIELD_COUNT_MAX`], [`DATA_SIZE_MAX`], [`ENTRY_SIZE_MAX`]); the writer
//!   refuses entries over them.
//! - A journald that compares memfd seals for equality treats a memfd as unsealed when the
//!   kernel adds `F_SEAL_EXEC` (`vm.memfd_noexec = 1`); root senders are unaffected, large
//!   entries from unprivileged senders are then refused by journald (see [`Writer`]).

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod entry;
mod error;
mod field;
#[cfg(test)]
mod fixture_tests;
mod json;
mod native;
mod reader;
mod writer;

pub use crate::entry::{Entry, Field};
pub use crate::error::Error;
pub use crate::field::{FieldName, Priority, FIELD_NAME_MAX};
pub use crate::json::{parse_json_line, parse_json_output, JournalEntry};
pub use crate::native::{decode, encode, DATA_SIZE_MAX, ENTRY_FIELD_COUNT_MAX, ENTRY_SIZE_MAX};
pub use crate::reader::{Collected, Query, Reader};
pub use crate::writer::{unique_run_id, Sent, Via, Writer, WriterBuilder, DEFAULT_SOCKET};
