//! Live tailing over `GET /loki/api/v1/tail` (a WebSocket), with the client's auth, tenant, extra
//! headers and TLS settings.
//!
//! Loki may replay old lines when a tail reconnects (grafana/loki#21232), so a tail is not a
//! delivery proof on its own; [`Client::read_all`] is.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::entry::{ReadStream, Timestamp};
use crate::error::BoxError;
use crate::query::{decode_stream_values, WireStream};
use crate::{Client, Error, LabelSet};

/// Options for a tail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailOptions {
    /// Replay entries from this time on (Loki's default is one hour ago).
    pub start: Option<Timestamp>,
    /// Maximum entries replayed at start.
    pub limit: Option<u32>,
    /// Delay, up to 5 s, that lets late entries sort in.
    pub delay_for: Option<Duration>,
}

/// An entry Loki dropped from the tail because the client read too slowly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedEntry {
    /// The stream it belonged to.
    pub labels: BTreeMap<String, String>,
    /// Its timestamp.
    pub timestamp: Timestamp,
}

/// One tail frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailFrame {
    /// New entries, grouped by stream.
    pub streams: Vec<ReadStream>,
    /// Entries Loki dropped.
    pub dropped: Vec<DroppedEntry>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open tail. Read frames with [`Tail::next`]; close it with [`Tail::close`].
pub struct Tail {
    socket: Socket,
    query: String,
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tail")
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct WireFrame {
    #[serde(default)]
    streams: Vec<WireStream>,
    #[serde(default)]
    dropped_entries: Option<Vec<WireDropped>>,
}

#[derive(Deserialize)]
struct WireDropped {
    labels: BTreeMap<String, String>,
    timestamp: String,
}

impl Client {
    /// Opens a tail on a log query.
    pub async fn tail(&self, query: impl ToString, options: &TailOptions) -> Result<Tail, Error> {
        let query = query.to_string();
        let fail = |reason: &str, source: Option<BoxError>| Error::Tail {
            query: query.clone(),
            reason: reason.to_owned(),
            source,
        };
        let mut url = self.inner.http.url("/loki/api/v1/tail");
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .expect("ws and wss are valid schemes for http URLs");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("query", &query);
            if let Some(start) = options.start {
                q.append_pair("start", &start.unix_nanos().to_string());
            }
            if let Some(limit) = options.limit {
                q.append_pair("limit", &limit.to_string());
            }
            if let Some(delay) = options.delay_for {
                q.append_pair("delay_for", &delay.as_secs().min(5).to_string());
            }
        }
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| fail("bad tail URL", Some(Box::new(e))))?;
        for (name, value) in self.inner.http.default_headers() {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let connector = tokio_tungstenite::Connector::Rustls(self.inner.http.tls());
        let connect =
            tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector));
        let (socket, _response) =
            match tokio::time::timeout(self.inner.http.timeout(), connect).await {
                Err(_) => {
                    return Err(Error::Timeout {
                        endpoint: "/loki/api/v1/tail".into(),
                        timeout: self.inner.http.timeout(),
                    })
                }
                Ok(Err(tokio_tungstenite::tungstenite::Error::Http(res))) => {
                    let status = res.status().as_u16();
                    let body = res.body().clone().unwrap_or_default();
                    return Err(Error::Api(crate::error::ApiError::new(
                        status,
                        "/loki/api/v1/tail",
                        &body,
                        None,
                    )));
                }
                Ok(Err(e)) => return Err(fail("websocket handshake failed", Some(Box::new(e)))),
                Ok(Ok(pair)) => pair,
            };
        Ok(Tail { socket, query })
    }
}

impl Tail {
    /// The next frame, or `None` once Loki closes the tail.
    pub async fn next(&mut self) -> Option<Result<TailFrame, Error>> {
        loop {
            let msg = match self.socket.next().await? {
                Ok(msg) => msg,
                Err(e) => return Some(Err(self.error("websocket read failed", Some(Box::new(e))))),
            };
            let text = match msg {
                Message::Text(text) => text.to_string(),
                Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Message::Close(frame) => {
                    // Loki reports tail errors (such as a bad query) in the close frame's reason.
                    if let Some(frame) = frame {
                        if !frame.reason.is_empty() {
                            return Some(Err(self
                                .error(&format!("Loki closed the tail: {}", frame.reason), None)));
                        }
                    }
                    return None;
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            return Some(self.decode(&text));
        }
    }

    /// Reads frames until `deadline` passes or `done` says enough, returning every frame read.
    pub async fn collect_until(
        &mut self,
        deadline: Duration,
        mut done: impl FnMut(&[TailFrame]) -> bool,
    ) -> Result<Vec<TailFrame>, Error> {
        let mut frames = Vec::new();
        let stop = tokio::time::Instant::now() + deadline;
        while !done(&frames) {
            match tokio::time::timeout_at(stop, self.next()).await {
                Err(_) | Ok(None) => break,
                Ok(Some(frame)) => frames.push(frame?),
            }
        }
        Ok(frames)
    }

    /// Closes the tail politely.
    pub async fn close(mut self) -> Result<(), Error> {
        let res = self.socket.close(None).await;
        match res {
            Ok(()) | Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed) => Ok(()),
            Err(e) => Err(self.error("websocket close failed", Some(Box::new(e)))),
        }
    }

    fn decode(&self, text: &str) -> Result<TailFrame, Error> {
        let frame: WireFrame = serde_json::from_str(text)
            .map_err(|e| self.error(&format!("frame is not JSON: {e}"), None))?;
        let streams = frame
            .streams
            .into_iter()
            .map(|s| decode_stream_values(s.stream, s.values))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.error("a frame entry is not [\"<ns>\", \"line\"]", None))?;
        let dropped = frame
            .dropped_entries
            .unwrap_or_default()
            .into_iter()
            .map(|d| {
                Some(DroppedEntry {
                    labels: d.labels,
                    timestamp: Timestamp::from_unix_nanos(d.timestamp.parse().ok()?),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.error("a dropped entry has a bad timestamp", None))?;
        Ok(TailFrame { streams, dropped })
    }

    fn error(&self, reason: &str, source: Option<BoxError>) -> Error {
        Error::Tail {
            query: self.query.clone(),
            reason: reason.to_owned(),
            source,
        }
    }
}

impl TailFrame {
    /// Entries of the frame whose stream carries all of `labels`.
    pub fn entries_for<'a>(
        &'a self,
        labels: &'a LabelSet,
    ) -> impl Iterator<Item = &'a crate::ReadEntry> + 'a {
        self.streams
            .iter()
            .filter(move |s| labels.is_subset_of(&s.labels))
            .flat_map(|s| s.entries.iter())
    }
}
