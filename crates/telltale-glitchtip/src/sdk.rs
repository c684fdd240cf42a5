//! Ingestion through the real `sentry` crate, the way a Rust app sends events: its own client,
//! hub and reqwest transport, on a dedicated OS thread so its blocking flush never stalls a
//! tokio worker, and flushed before returning.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sentry::protocol::{Exception, Level as SentryLevel, Values};
use telltale_http::HttpConfig;

use crate::event::{Level, NewEvent};
use crate::{Dsn, Error};

/// What one [`SdkSender::send`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SdkReport {
    /// The ids the SDK gave the events it captured, in order (32 hex digits).
    pub event_ids: Vec<String>,
    /// Envelopes the SDK handed to its HTTP transport.
    pub envelopes: usize,
    /// Whether every flush drained the transport's queue within the flush timeout. It does not
    /// mean every event was sent: envelopes captured while the queue was full were dropped.
    pub flushed: bool,
    /// Time from the first capture to the end of the flush.
    pub elapsed: Duration,
}

/// Sends events through the `sentry` SDK with its reqwest HTTP transport.
///
/// Each call sets up a fresh SDK client (no global hub is touched), captures the events,
/// flushes, and closes the client. The SDK reports nothing about HTTP answers: read the events
/// back through the API (see [`DeliveryCheck`](crate::DeliveryCheck)).
#[derive(Debug, Clone)]
pub struct SdkSender {
    dsn: Dsn,
    ca_files: Vec<PathBuf>,
    flush_timeout: Duration,
    release: Option<String>,
    environment: Option<String>,
    channel_capacity: Option<usize>,
    flush_every: Option<usize>,
}

impl SdkSender {
    /// A sender for the DSN's project, with a 10 s flush timeout.
    pub fn new(dsn: Dsn) -> SdkSender {
        SdkSender {
            dsn,
            ca_files: Vec::new(),
            flush_timeout: Duration::from_secs(10),
            release: None,
            environment: None,
            channel_capacity: None,
            flush_every: None,
        }
    }

    /// The SDK transport's queue size (`ClientOptions::transport_channel_capacity`; the
    /// `sentry` crate's default is 30). Envelopes captured while the queue is full are
    /// **dropped silently** by the SDK.
    pub fn transport_channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = Some(capacity.max(1));
        self
    }

    /// Flushes after every `n` captures, so a burst larger than the transport queue is not
    /// dropped. Default: capture everything, then flush once (what an app does).
    pub fn flush_every(mut self, n: usize) -> Self {
        self.flush_every = Some(n.max(1));
        self
    }

    /// Trusts the CA certificates in this PEM file (for an https DSN).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// How long a flush may take.
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// The SDK's default release (events may set their own).
    pub fn release(mut self, release: impl Into<String>) -> Self {
        self.release = Some(release.into());
        self
    }

    /// The SDK's default environment (events may set their own).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Captures and flushes on a dedicated OS thread, so it is safe inside any async runtime.
    pub async fn send(&self, events: Vec<NewEvent>) -> Result<SdkReport, Error> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let me = self.clone();
        std::thread::Builder::new()
            .name("telltale-sentry-sdk".into())
            .spawn(move || {
                let _ = tx.send(me.send_blocking(&events));
            })
            .map_err(|e| Error::Sdk {
                reason: format!("could not start the SDK thread: {e}"),
            })?;
        rx.await.map_err(|_| Error::Sdk {
            reason: "the SDK thread ended without an answer".into(),
        })?
    }

    /// Captures and flushes on the calling thread. It blocks: call it from a plain thread or
    /// `spawn_blocking`, never directly on an async worker.
    pub fn send_blocking(&self, events: &[NewEvent]) -> Result<SdkReport, Error> {
        let mut http = HttpConfig::new(self.dsn.base_url(), "telltale-glitchtip-sdk");
        for ca in &self.ca_files {
            http.add_ca_file(ca);
        }
        let tls = http.build()?.tls();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .build()
            .map_err(|e| Error::Sdk {
                reason: format!("could not build the transport's HTTP client: {e}"),
            })?;
        let dsn: sentry::types::Dsn = self.dsn.expose().parse().map_err(|_| Error::Sdk {
            reason: format!("the sentry crate refused the dsn {}", self.dsn),
        })?;
        let handed = Arc::new(Mutex::new(0usize));
        let counter = handed.clone();
        let factory = move |options: &sentry::ClientOptions| -> Arc<dyn sentry::Transport> {
            let inner: Arc<dyn sentry::Transport> =
                match sentry::TransportOptions::try_from_client_options(options) {
                    Some(opts) => Arc::new(
                        sentry::transports::ReqwestHttpTransportOptions::from(opts)
                            .with_client(client.clone())
                            .build(),
                    ),
                    None => Arc::new(NoTransport),
                };
            Arc::new(Counting {
                inner,
                handed: counter.clone(),
            })
        };
        let mut options = sentry::ClientOptions::default();
        options.dsn = Some(dsn);
        options.release = self.release.clone().map(Into::into);
        options.environment = self.environment.clone().map(Into::into);
        options.transport = Some(Arc::new(factory));
        options.transport_channel_capacity =
            self.channel_capacity.and_then(std::num::NonZeroUsize::new);
        let client = Arc::new(sentry::Client::with_options(options));
        if !client.is_enabled() {
            return Err(Error::Sdk {
                reason: "the SDK client is disabled".into(),
            });
        }
        let hub = sentry::Hub::new(Some(client.clone()), Arc::new(sentry::Scope::default()));
        let started = Instant::now();
        let mut event_ids = Vec::with_capacity(events.len());
        let mut flushed = true;
        for (i, e) in events.iter().enumerate() {
            let id = hub.capture_event(to_sentry(e)?);
            event_ids.push(id.simple().to_string());
            if self.flush_every.is_some_and(|n| (i + 1) % n == 0) {
                flushed &= client.flush(Some(self.flush_timeout));
            }
        }
        flushed &= client.flush(Some(self.flush_timeout));
        client.close(Some(self.flush_timeout));
        let envelopes = *handed.lock().unwrap_or_else(|p| p.into_inner());
        Ok(SdkReport {
            event_ids,
            envelopes,
            flushed,
            elapsed: started.elapsed(),
        })
    }
}

struct NoTransport;

impl sentry::Transport for NoTransport {
    fn send_envelope(&self, _: sentry::Envelope) {}
}

/// Counts envelopes on their way to the real transport.
struct Counting {
    inner: Arc<dyn sentry::Transport>,
    handed: Arc<Mutex<usize>>,
}

impl sentry::Transport for Counting {
    fn send_envelope(&self, envelope: sentry::Envelope) {
        *self.handed.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.inner.send_envelope(envelope);
    }

    fn flush(&self, timeout: Duration) -> bool {
        self.inner.flush(timeout)
    }

    fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.shutdown(timeout)
    }
}

fn to_sentry(e: &NewEvent) -> Result<sentry::protocol::Event<'static>, Error> {
    let event_id = sentry::types::Uuid::parse_str(&e.event_id).map_err(|_| Error::Sdk {
        reason: format!("event id {:?} is not a UUID", e.event_id),
    })?;
    let mut ev = sentry::protocol::Event {
        event_id,
        timestamp: e.timestamp,
        level: match e.level {
            Level::Debug => SentryLevel::Debug,
            Level::Info => SentryLevel::Info,
            Level::Warning => SentryLevel::Warning,
            Level::Error => SentryLevel::Error,
            Level::Fatal => SentryLevel::Fatal,
        },
        message: e.message.clone(),
        logger: e.logger.clone(),
        environment: e.environment.clone().map(Into::into),
        release: e.release.clone().map(Into::into),
        tags: e.tags.clone(),
        extra: e
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect(),
        ..Default::default()
    };
    if !e.fingerprint.is_empty() {
        ev.fingerprint = e
            .fingerprint
            .iter()
            .cloned()
            .map(Into::into)
            .collect::<Vec<_>>()
            .into();
    }
    if let Some((ty, value)) = &e.exception {
        ev.exception = Values::from(vec![Exception {
            ty: ty.clone(),
            value: Some(value.clone()),
            ..Default::default()
        }]);
    }
    Ok(ev)
}
