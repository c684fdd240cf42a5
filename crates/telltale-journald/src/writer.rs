//! The writer: sends entries to journald's native socket as datagrams, or through a sealed
//! memfd when they are too large for one, tagging each with a run id and a sequence number.

use std::fs::File;
use std::io::{IoSlice, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};
use rustix::io::Errno;
use rustix::net::sockopt::{self, Timeout};
use rustix::net::{
    sendmsg_addr, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix,
};

use crate::native::{encode_field, DATA_SIZE_MAX, ENTRY_FIELD_COUNT_MAX, ENTRY_SIZE_MAX};
use crate::{Entry, Error, FieldName};

/// The socket journald listens on for the native protocol (`sd_journal_sendv()` sends there).
pub const DEFAULT_SOCKET: &str = "/run/systemd/journal/socket";

/// Bytes Linux keeps back from the send buffer for each Unix datagram: `unix_dgram_sendmsg()`
/// (`net/unix/af_unix.c`) answers `EMSGSIZE` when `len > sk_sndbuf - 32`.
const DGRAM_OVERHEAD: usize = 32;

/// How an entry reached journald.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Via {
    /// One datagram holding the entry.
    Datagram,
    /// A sealed memfd passed with `SCM_RIGHTS` in an empty datagram.
    Memfd {
        /// `true` when a datagram was tried first and the kernel refused it (`EMSGSIZE` or
        /// `ENOBUFS`); `false` when the entry was larger than
        /// [`Writer::max_datagram`] and went straight to a memfd.
        fallback: bool,
    },
}

/// What [`Writer::send`] did with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sent {
    /// The sequence number the entry carries.
    pub seq: u64,
    /// Bytes of the native-protocol message (the datagram, or the memfd's size).
    pub bytes: usize,
    /// Datagram or memfd.
    pub via: Via,
}

/// Settings for a [`Writer`]; start from [`Writer::builder`].
#[derive(Debug, Clone)]
pub struct WriterBuilder {
    socket: PathBuf,
    run_id: String,
    run_field: FieldName,
    seq_field: FieldName,
    identifier: Option<Vec<u8>>,
    first_seq: u64,
    send_buffer: Option<usize>,
    max_datagram: Option<usize>,
    send_timeout: Option<Duration>,
}

impl WriterBuilder {
    /// The socket to send to. Default: [`DEFAULT_SOCKET`]. journald itself only ever listens
    /// on `/run/systemd/journal/socket` (or `/run/systemd/journal.<namespace>/socket` for a
    /// journal namespace), so another path only helps when that socket is reachable there, e.g.
    /// through a bind mount (see the crate docs).
    pub fn socket(mut self, path: impl Into<PathBuf>) -> WriterBuilder {
        self.socket = path.into();
        self
    }

    /// The field carrying the run id. Default: `TELLTALE_RUN`.
    pub fn run_field(mut self, name: FieldName) -> WriterBuilder {
        self.run_field = name;
        self
    }

    /// The field carrying the sequence number. Default: `TELLTALE_SEQ`.
    pub fn seq_field(mut self, name: FieldName) -> WriterBuilder {
        self.seq_field = name;
        self
    }

    /// A `SYSLOG_IDENTIFIER` added to entries that have none (as `sd_journal_sendv()` adds the
    /// program name). Default: none.
    pub fn identifier(mut self, identifier: impl Into<Vec<u8>>) -> WriterBuilder {
        self.identifier = Some(identifier.into());
        self
    }

    /// The sequence number of the first entry. Default: 0.
    pub fn first_seq(mut self, seq: u64) -> WriterBuilder {
        self.first_seq = seq;
        self
    }

    /// Asks for this `SO_SNDBUF` (the kernel doubles it and caps the request at
    /// `net.core.wmem_max`). Default: the kernel's default (`net.core.wmem_default`).
    ///
    /// `sd_journal_sendv()` raises its buffer to 8 MiB, forcibly when privileged, so that most
    /// entries fit one datagram. This writer leaves it alone by default: entries that do not fit
    /// go through a memfd, which journald maps without copying.
    pub fn send_buffer_size(mut self, bytes: usize) -> WriterBuilder {
        self.send_buffer = Some(bytes);
        self
    }

    /// Entries whose encoding is larger than this go straight through a memfd. Default: the
    /// largest datagram the socket's send buffer allows (`SO_SNDBUF` − 32). Larger values are
    /// allowed; the kernel's `EMSGSIZE` then triggers the memfd fallback instead.
    pub fn max_datagram(mut self, bytes: usize) -> WriterBuilder {
        self.max_datagram = Some(bytes);
        self
    }

    /// How long one send may wait while journald's receive queue is full (`SO_SNDTIMEO`).
    /// `None` waits forever, like `sd_journal_sendv()`. Default: 10 s.
    pub fn send_timeout(mut self, timeout: Option<Duration>) -> WriterBuilder {
        self.send_timeout = timeout;
        self
    }

    /// Creates the socket. Nothing is sent yet, so this succeeds even when journald is not
    /// running.
    pub fn build(self) -> Result<Writer, Error> {
        if self.run_field == self.seq_field {
            return Err(Error::config(format!(
                "run and sequence fields are both {}",
                self.run_field
            )));
        }
        let addr = SocketAddrUnix::new(self.socket.as_path()).map_err(|_| {
            Error::config(format!(
                "socket path {} is longer than a Unix socket address allows (107 bytes)",
                self.socket.display()
            ))
        })?;
        let socket_err = |source: std::io::Error| Error::Socket {
            path: self.socket.clone(),
            source,
        };
        let socket = UnixDatagram::unbound().map_err(socket_err)?;
        if let Some(bytes) = self.send_buffer {
            sockopt::set_socket_send_buffer_size(&socket, bytes)
                .map_err(|e| socket_err(e.into()))?;
        }
        let sndbuf = sockopt::socket_send_buffer_size(&socket).map_err(|e| socket_err(e.into()))?;
        sockopt::set_socket_timeout(&socket, Timeout::Send, self.send_timeout)
            .map_err(|e| socket_err(e.into()))?;
        let mut run_value = Vec::new();
        encode_field(
            self.run_field.as_str().as_bytes(),
            self.run_id.as_bytes(),
            &mut run_value,
        );
        Ok(Writer {
            socket,
            addr,
            path: self.socket,
            run_id: self.run_id,
            run_field: self.run_field,
            seq_field: self.seq_field,
            run_value,
            identifier: self.identifier,
            next_seq: AtomicU64::new(self.first_seq),
            max_datagram: self
                .max_datagram
                .unwrap_or(sndbuf.saturating_sub(DGRAM_OVERHEAD)),
            send_buffer: sndbuf,
            send_timeout: self.send_timeout,
        })
    }
}

/// Sends entries to journald over its native protocol.
///
/// Every entry gets two fields besides its own: the run id (`TELLTALE_RUN=<id>`) and a
/// sequence number (`TELLTALE_SEQ=<n>`, counting up from [`WriterBuilder::first_seq`]), so a
/// reader can find exactly the entries of one run and tell which are missing or duplicated.
/// A sequence number is used up by every call to [`Writer::send`] that gets past validation,
/// even one that then fails, so numbers in the journal are never reused.
///
/// `send` takes `&self`; a `Writer` can be shared between threads.
///
/// # How entries are sent
///
/// This follows `sd_journal_sendv()` in systemd's `src/libsystemd/sd-journal/journal-send.c`:
///
/// 1. The entry is encoded ([`encode`](crate::encode)) and sent as one datagram from an
///    unbound `SOCK_DGRAM` socket to the journald socket (`sendmsg` with `MSG_NOSIGNAL`).
/// 2. If the kernel answers `EMSGSIZE` or `ENOBUFS` — or, unlike `sd_journal_sendv()`, before
///    trying, if the entry is larger than [`Writer::max_datagram`] — the same bytes are
///    written to a memfd made with `memfd_create(MFD_ALLOW_SEALING | MFD_CLOEXEC)`, sealed with
///    `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL`, and its descriptor is passed
///    with `SCM_RIGHTS` in a datagram with **no payload**: journald's datagram handler
///    (`src/journal/journald-server.c`, `manager_process_datagram` in newer releases) treats
///    "zero bytes and exactly one fd" as a native file and anything else with fds as an error.
///    journald's `manager_process_native_file()` (`src/journal/journald-native.c`) maps a
///    sealed memfd directly; an unsealed file is accepted only from root or from `/dev/shm`,
///    `/tmp` or `/var/tmp`.
///
/// Differences from `sd_journal_sendv()`: it returns success when the socket does not exist
/// (`ENOENT`); this writer reports it, since a test must know. It falls back to a memfd on
/// `EAGAIN` too; this writer's socket is blocking with a timeout, so `EAGAIN` means journald
/// did not drain its queue in time and is reported as [`Error::Timeout`]. It falls back to a
/// file in `/dev/shm` when memfds are missing (Linux < 3.17); this writer does not. It does not
/// add `MFD_NOEXEC_SEAL`; neither does this writer, because journald releases that compare
/// the seals for equality would then see an `F_SEAL_EXEC` too many and treat the memfd as
/// unsealed (fine for root senders, refused for others). Kernels with
/// `vm.memfd_noexec = 1` add that seal themselves; large entries from unprivileged senders may
/// then be dropped by such a journald.
#[derive(Debug)]
pub struct Writer {
    socket: UnixDatagram,
    addr: SocketAddrUnix,
    path: PathBuf,
    run_id: String,
    run_field: FieldName,
    seq_field: FieldName,
    /// The run field, already encoded.
    run_value: Vec<u8>,
    identifier: Option<Vec<u8>>,
    next_seq: AtomicU64,
    max_datagram: usize,
    send_buffer: usize,
    send_timeout: Option<Duration>,
}

impl Writer {
    /// A writer to the default socket for this run id.
    ///
    /// The run id may not be empty or hold a newline or NUL, so it can be matched on the
    /// `journalctl` command line.
    pub fn new(run_id: impl Into<String>) -> Result<Writer, Error> {
        Writer::builder(run_id)?.build()
    }

    /// Settings for a writer for this run id (see [`Writer::new`] for the rules).
    pub fn builder(run_id: impl Into<String>) -> Result<WriterBuilder, Error> {
        let run_id = run_id.into();
        if run_id.is_empty() || run_id.contains(['\n', '\0']) {
            return Err(Error::config(format!(
                "run id {run_id:?} must be non-empty without newlines or NUL"
            )));
        }
        Ok(WriterBuilder {
            socket: PathBuf::from(DEFAULT_SOCKET),
            run_id,
            run_field: FieldName::TELLTALE_RUN,
            seq_field: FieldName::TELLTALE_SEQ,
            identifier: None,
            first_seq: 0,
            send_buffer: None,
            max_datagram: None,
            send_timeout: Some(Duration::from_secs(10)),
        })
    }

    /// Sends one entry with the run id and the next sequence number added.
    ///
    /// Refused before sending (with [`Error::InvalidEntry`], using up no sequence number): an
    /// entry that already has the run or sequence field, or that journald would drop — more
    /// than [`ENTRY_FIELD_COUNT_MAX`] fields, a value over [`DATA_SIZE_MAX`], or more than
    /// [`ENTRY_SIZE_MAX`] bytes.
    pub fn send(&self, entry: &Entry) -> Result<Sent, Error> {
        self.check(entry)?;
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut buf = Vec::new();
        self.encode_with(entry, seq, &mut buf);
        let via = self.deliver(&buf)?;
        Ok(Sent {
            seq,
            bytes: buf.len(),
            via,
        })
    }

    /// Appends the bytes [`Writer::send`] would send for `entry` with sequence number `seq`,
    /// without sending or using up a number.
    pub fn encode(&self, entry: &Entry, seq: u64, out: &mut Vec<u8>) -> Result<(), Error> {
        self.check(entry)?;
        self.encode_with(entry, seq, out);
        Ok(())
    }

    fn check(&self, entry: &Entry) -> Result<(), Error> {
        let mut count = entry.len() + 2;
        let mut size = 0usize;
        for f in entry.fields() {
            if f.name == self.run_field || f.name == self.seq_field {
                return Err(Error::invalid_entry(format!(
                    "the entry sets {}, which the writer sets itself",
                    f.name
                )));
            }
            if f.value.len() > DATA_SIZE_MAX {
                return Err(Error::invalid_entry(format!(
                    "{} has {} bytes; journald drops entries with a value over {DATA_SIZE_MAX}",
                    f.name,
                    f.value.len()
                )));
            }
            size += f.name.as_str().len() + f.value.len() + 2;
        }
        if self.identifier.is_some() && entry.get("SYSLOG_IDENTIFIER").is_none() {
            count += 1;
        }
        if count > ENTRY_FIELD_COUNT_MAX {
            return Err(Error::invalid_entry(format!(
                "{count} fields with the writer's own; journald drops entries with more than {ENTRY_FIELD_COUNT_MAX}"
            )));
        }
        // Room for the writer's fields and the `_TRANSPORT=journal` journald adds.
        if size + self.run_value.len() + 64 > ENTRY_SIZE_MAX {
            return Err(Error::invalid_entry(format!(
                "{size} bytes; journald drops entries over {ENTRY_SIZE_MAX}"
            )));
        }
        Ok(())
    }

    fn encode_with(&self, entry: &Entry, seq: u64, out: &mut Vec<u8>) {
        out.reserve(entry.encoded_len() + self.run_value.len() + 48);
        crate::encode(entry, out);
        if let Some(id) = &self.identifier {
            if entry.get("SYSLOG_IDENTIFIER").is_none() {
                encode_field(b"SYSLOG_IDENTIFIER", id, out);
            }
        }
        out.extend_from_slice(&self.run_value);
        let mut digits = [0u8; 20];
        encode_field(
            self.seq_field.as_str().as_bytes(),
            format_u64(seq, &mut digits),
            out,
        );
    }

    fn deliver(&self, buf: &[u8]) -> Result<Via, Error> {
        if buf.len() > self.max_datagram {
            self.send_memfd(buf)?;
            return Ok(Via::Memfd { fallback: false });
        }
        loop {
            let mut no_control = SendAncillaryBuffer::default();
            match sendmsg_addr(
                &self.socket,
                &self.addr,
                &[IoSlice::new(buf)],
                &mut no_control,
                SendFlags::NOSIGNAL,
            ) {
                Ok(_) => return Ok(Via::Datagram),
                Err(Errno::INTR) => continue,
                Err(Errno::MSGSIZE | Errno::NOBUFS) => {
                    self.send_memfd(buf)?;
                    return Ok(Via::Memfd { fallback: true });
                }
                Err(e) => return Err(self.send_error(e, None)),
            }
        }
    }

    fn send_memfd(&self, buf: &[u8]) -> Result<(), Error> {
        let fail = |step: &'static str, source: std::io::Error| Error::Memfd {
            path: self.path.clone(),
            step,
            source,
        };
        let fd = memfd_create(
            "telltale-journald",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| fail("memfd_create", e.into()))?;
        let mut file = File::from(fd);
        file.write_all(buf).map_err(|e| fail("write", e))?;
        fcntl_add_seals(
            &file,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )
        .map_err(|e| fail("seal", e.into()))?;
        let fds = [file.as_fd()];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        loop {
            let mut control = SendAncillaryBuffer::new(&mut space);
            let pushed = control.push(SendAncillaryMessage::ScmRights(&fds));
            debug_assert!(pushed, "cmsg_space! sized the buffer for one fd");
            // No payload: journald reads "0 bytes + 1 fd" as a native file.
            match sendmsg_addr(
                &self.socket,
                &self.addr,
                &[],
                &mut control,
                SendFlags::NOSIGNAL,
            ) {
                Ok(_) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(self.send_error(e, Some("send"))),
            }
        }
    }

    fn send_error(&self, errno: Errno, memfd_step: Option<&'static str>) -> Error {
        if errno == Errno::AGAIN {
            if let Some(timeout) = self.send_timeout {
                return Error::Timeout {
                    path: self.path.clone(),
                    timeout,
                };
            }
        }
        match memfd_step {
            Some(step) => Error::Memfd {
                path: self.path.clone(),
                step,
                source: errno.into(),
            },
            None => Error::Send {
                path: self.path.clone(),
                source: errno.into(),
            },
        }
    }

    /// The run id every entry carries.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The field carrying the run id.
    pub fn run_field(&self) -> &FieldName {
        &self.run_field
    }

    /// The field carrying the sequence number.
    pub fn seq_field(&self) -> &FieldName {
        &self.seq_field
    }

    /// The sequence number the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed)
    }

    /// The socket entries are sent to.
    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Entries whose encoding is larger than this go straight through a memfd.
    pub fn max_datagram(&self) -> usize {
        self.max_datagram
    }

    /// The socket's send buffer as the kernel reports it (`SO_SNDBUF`; a size set with
    /// [`WriterBuilder::send_buffer_size`] comes back doubled).
    pub fn send_buffer_size(&self) -> usize {
        self.send_buffer
    }
}

/// A run id unlikely to repeat: `prefix`, the process id, the time in nanoseconds (hex) and a
/// per-process counter, e.g. `smoke-4242-18a3f5c2e9b1d000-0`.
pub fn unique_run_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Decimal digits of `n` without allocating.
fn format_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    /// A bound datagram socket in a fresh temporary folder, removed on drop.
    struct TempSocket {
        dir: PathBuf,
        path: PathBuf,
        server: UnixDatagram,
    }

    impl Drop for TempSocket {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn temp_socket(name: &str) -> TempSocket {
        let dir = std::env::temp_dir().join(format!(
            "telltale-journald-unit-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("socket");
        let server = UnixDatagram::bind(&path).unwrap();
        TempSocket { dir, path, server }
    }

    #[test]
    fn formats_numbers() {
        let mut buf = [0u8; 20];
        for n in [0, 7, 10, 1234567890, u64::MAX] {
            assert_eq!(format_u64(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn adds_run_seq_and_identifier() {
        let w = Writer::builder("r1")
            .unwrap()
            .identifier("tt")
            .first_seq(41)
            .build()
            .unwrap();
        let mut out = Vec::new();
        w.encode(&Entry::message("hi"), 41, &mut out).unwrap();
        assert_eq!(
            out,
            b"MESSAGE=hi\nSYSLOG_IDENTIFIER=tt\nTELLTALE_RUN=r1\nTELLTALE_SEQ=41\n"
        );
        out.clear();
        w.encode(&Entry::message("hi").with_identifier("own"), 42, &mut out)
            .unwrap();
        assert_eq!(
            out,
            b"MESSAGE=hi\nSYSLOG_IDENTIFIER=own\nTELLTALE_RUN=r1\nTELLTALE_SEQ=42\n"
        );
    }

    #[test]
    fn custom_field_names() {
        let w = Writer::builder("r")
            .unwrap()
            .run_field(FieldName::new("RUN").unwrap())
            .seq_field(FieldName::new("N").unwrap())
            .build()
            .unwrap();
        let mut out = Vec::new();
        w.encode(&Entry::new(), 0, &mut out).unwrap();
        assert_eq!(out, b"RUN=r\nN=0\n");
    }

    #[test]
    fn refuses_bad_run_ids_and_own_fields() {
        assert!(Writer::new("").is_err());
        assert!(Writer::new("a\nb").is_err());
        assert!(Writer::new("a\0b").is_err());
        let w = Writer::new("r").unwrap();
        let err = w
            .send(&Entry::new().with(FieldName::TELLTALE_SEQ, "1"))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidEntry { .. }), "{err}");
        assert_eq!(w.next_seq(), 0, "a refused entry uses no number");
        let same = Writer::builder("r")
            .unwrap()
            .seq_field(FieldName::TELLTALE_RUN)
            .build();
        assert!(same.is_err());
    }

    #[test]
    fn refuses_entries_journald_would_drop() {
        let w = Writer::new("r").unwrap();
        let entry_with = |n: usize| -> Entry {
            (0..n)
                .map(|_| crate::Field {
                    name: FieldName::MESSAGE,
                    value: b"x".to_vec(),
                })
                .collect()
        };
        let err = w
            .encode(&entry_with(ENTRY_FIELD_COUNT_MAX - 1), 0, &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("1025 fields"), "{err}");
        w.encode(&entry_with(ENTRY_FIELD_COUNT_MAX - 2), 0, &mut Vec::new())
            .unwrap();
    }

    #[test]
    fn too_long_socket_path_is_a_config_error() {
        let err = Writer::builder("r")
            .unwrap()
            .socket(format!("/tmp/{}", "x".repeat(200)))
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
    }

    #[test]
    fn missing_socket_is_reported_not_ignored() {
        let w = Writer::builder("r")
            .unwrap()
            .socket("/nonexistent/telltale/socket")
            .build()
            .unwrap();
        let err = w.send(&Entry::message("x")).unwrap_err();
        match &err {
            Error::Send { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound, "{err}")
            }
            other => panic!("{other}"),
        }
        assert_eq!(w.next_seq(), 1, "a failed send still uses its number");
    }

    #[test]
    fn small_entries_arrive_as_one_datagram() {
        let sock = temp_socket("dgram");
        let w = Writer::builder("r")
            .unwrap()
            .socket(&sock.path)
            .build()
            .unwrap();
        let sent = w.send(&Entry::message("a\nb")).unwrap();
        assert_eq!(sent.via, Via::Datagram);
        let mut buf = vec![0u8; 4096];
        let n = sock.server.recv(&mut buf).unwrap();
        assert_eq!(n, sent.bytes);
        let got = crate::decode(&buf[..n]).unwrap();
        assert_eq!(got[0].get("MESSAGE"), Some(&b"a\nb"[..]));
        assert_eq!(got[0].get("TELLTALE_SEQ"), Some(&b"0"[..]));
    }

    #[test]
    fn large_entries_go_through_a_memfd_and_emsgsize_falls_back() {
        let sock = temp_socket("memfd");
        let (path, server) = (&sock.path, &sock.server);
        let w = Writer::builder("r")
            .unwrap()
            .socket(path)
            .send_buffer_size(16 * 1024)
            .build()
            .unwrap();
        assert!(w.max_datagram() < 64 * 1024, "{}", w.max_datagram());
        let big = Entry::message(vec![b'x'; 100 * 1024]);
        let sent = w.send(&big).unwrap();
        assert_eq!(sent.via, Via::Memfd { fallback: false });
        let fd = recv_fd(server);
        assert_memfd_holds(fd, &big);

        let forced = Writer::builder("r")
            .unwrap()
            .socket(path)
            .send_buffer_size(16 * 1024)
            .max_datagram(usize::MAX)
            .build()
            .unwrap();
        let sent = forced.send(&big).unwrap();
        assert_eq!(sent.via, Via::Memfd { fallback: true });
        assert_memfd_holds(recv_fd(server), &big);
    }

    #[test]
    fn a_queue_that_stays_full_is_a_timeout() {
        // Nobody reads the socket: after net.unix.max_dgram_qlen datagrams (or a full send
        // buffer) sendmsg blocks, and SO_SNDTIMEO turns that into EAGAIN.
        let sock = temp_socket("full");
        let timeout = Duration::from_millis(100);
        let w = Writer::builder("r")
            .unwrap()
            .socket(&sock.path)
            .send_timeout(Some(timeout))
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let err = (0..100_000)
            .find_map(|_| w.send(&Entry::message("x")).err())
            .expect("the queue fills up");
        assert!(
            matches!(err, Error::Timeout { timeout: t, .. } if t == timeout),
            "{err}"
        );
        assert!(started.elapsed() >= timeout);
    }

    fn recv_fd(server: &UnixDatagram) -> std::os::fd::OwnedFd {
        use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut payload = [0u8; 16];
        let got = recvmsg(
            server,
            &mut [std::io::IoSliceMut::new(&mut payload)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap();
        assert_eq!(got.bytes, 0, "the fd datagram carries no payload");
        let mut fds = Vec::new();
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = msg {
                fds.extend(rights);
            }
        }
        assert_eq!(fds.len(), 1);
        fds.pop().unwrap()
    }

    fn assert_memfd_holds(fd: std::os::fd::OwnedFd, entry: &Entry) {
        use std::os::unix::fs::FileExt;
        let seals = rustix::fs::fcntl_get_seals(&fd).unwrap();
        assert_eq!(
            seals,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL
        );
        let file = File::from(fd);
        // The descriptor shares the writer's file offset (at the end), so read by position,
        // as journald does (mmap, or pread for unsealed files).
        let mut bytes = vec![0u8; file.metadata().unwrap().len() as usize];
        file.read_exact_at(&mut bytes, 0).unwrap();
        let got = crate::decode(&bytes).unwrap();
        assert_eq!(got[0].get("MESSAGE"), entry.get("MESSAGE"));
    }
}
