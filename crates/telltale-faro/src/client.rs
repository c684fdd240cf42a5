//! The `faro.receiver` client: `POST /collect` with `X-API-Key`, built on `telltale-http`, with
//! the size check made before sending and the retry loop every telltale client uses.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use telltale_http::{Auth, Body, Http, HttpConfig, Method, RetryPolicy};

use crate::error::ApiError;
use crate::{Error, Payload};

/// The receiver's default `max_allowed_payload_size`: 5 MiB.
pub const DEFAULT_MAX_PAYLOAD_SIZE: usize = 5 * 1024 * 1024;

/// The value of `X-API-Key`: read from a file or the environment, never printed.
///
/// (`telltale_http::Secret` keeps its value to that crate, so the Faro key has its own type.)
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key given inline (tests; prefer [`ApiKey::from_file`]).
    pub fn new(key: impl Into<String>) -> Result<ApiKey, Error> {
        ApiKey::checked(key.into(), || "inline value".to_owned())
    }

    /// Reads the key from a file (as sops-nix or agenix write them), trimming one trailing
    /// newline.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ApiKey, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Secret {
            origin: format!("file {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        let key = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        ApiKey::checked(key.to_owned(), || format!("file {}", path.display()))
    }

    /// Reads the key from an environment variable.
    pub fn from_env(var: &str) -> Result<ApiKey, Error> {
        let value = std::env::var(var).map_err(|e| Error::Secret {
            origin: format!("env {var}"),
            source: Some(Box::new(e)),
        })?;
        ApiKey::checked(value, || format!("env {var}"))
    }

    fn checked(value: String, origin: impl Fn() -> String) -> Result<ApiKey, Error> {
        let bad = if value.is_empty() {
            Some("it is empty")
        } else if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
            Some("it holds control characters")
        } else {
            None
        };
        match bad {
            Some(why) => Err(Error::Secret {
                origin: format!("{} ({why})", origin()),
                source: None,
            }),
            None => Ok(ApiKey(value)),
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How request bodies are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Plain JSON: the default, and the only choice Alloy before 1.17 understands.
    #[default]
    None,
    /// `Content-Encoding: gzip`, as the web SDK sends with `requestCompression: true`. Only
    /// Alloy 1.17 and later decompress it; older receivers answer 400.
    Gzip,
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    http: HttpConfig,
    retry: RetryPolicy,
    api_key: Option<ApiKey>,
    max_payload_size: usize,
    compression: Compression,
}

impl ClientBuilder {
    /// Replaces the base URL, keeping every other setting.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.http.set_base_url(base_url);
        self
    }

    /// Sends `X-API-Key` on every request (the receiver's `api_key`).
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Authenticates to a proxy in front of the receiver.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.http.set_auth(auth);
        self
    }

    /// Trusts the CA certificates in this PEM file, besides the Mozilla roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.http.add_ca_file(path);
        self
    }

    /// Sends an extra header on every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.http.add_header(name, value);
        self
    }

    /// The deadline for one exchange. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http.set_timeout(timeout);
        self
    }

    /// The deadline for connecting. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http.set_connect_timeout(timeout);
        self
    }

    /// How failed sends are retried: 429, 502, 503, 504 and refused connections are.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Refuse, without sending, bodies larger than this many bytes (as sent, after any
    /// compression). Default [`DEFAULT_MAX_PAYLOAD_SIZE`], the receiver's default; set it to the
    /// receiver's `max_allowed_payload_size`.
    pub fn max_payload_size(mut self, bytes: usize) -> Self {
        self.max_payload_size = bytes;
        self
    }

    /// Body compression. Default [`Compression::None`].
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let http = self.http.build()?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                retry: self.retry,
                api_key: self.api_key,
                max_payload_size: self.max_payload_size,
                compression: self.compression,
            }),
        })
    }
}

/// A `faro.receiver` client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: Http,
    retry: RetryPolicy,
    api_key: Option<ApiKey>,
    max_payload_size: usize,
    compression: Compression,
}

/// A receiver's answer to a CORS preflight ([`Client::preflight`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Preflight {
    /// The HTTP status (the Agent answers 204 whether or not it allows the origin).
    pub status: u16,
    /// `Access-Control-Allow-Origin`, absent when the origin is refused.
    pub allow_origin: Option<String>,
    /// `Access-Control-Allow-Headers`.
    pub allow_headers: Option<String>,
}

impl Preflight {
    /// Whether a browser at `origin` may POST with an `x-api-key` header after this answer.
    pub fn allows(&self, origin: &str) -> bool {
        let origin_ok = self
            .allow_origin
            .as_deref()
            .is_some_and(|o| o == "*" || o == origin);
        let key_ok = self.allow_headers.as_deref().is_some_and(|h| {
            h == "*"
                || h.split(',')
                    .any(|x| x.trim().eq_ignore_ascii_case("x-api-key"))
        });
        origin_ok && key_ok
    }
}

/// What a successful send did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendReport {
    /// The success status (Alloy answers 202).
    pub status: u16,
    /// The body of the answer (Alloy answers `ok`).
    pub message: String,
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// Bytes of JSON.
    pub json_bytes: usize,
    /// Bytes sent (after compression).
    pub wire_bytes: usize,
}

const COLLECT: &str = "/collect";

impl Client {
    /// Starts configuring a client for the receiver at `base_url`, e.g. `http://127.0.0.1:12347`
    /// (a path prefix, as proxies use, is kept).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            http: HttpConfig::new(
                base_url,
                concat!("telltale-faro/", env!("CARGO_PKG_VERSION")),
            ),
            retry: RetryPolicy::default(),
            api_key: None,
            max_payload_size: DEFAULT_MAX_PAYLOAD_SIZE,
            compression: Compression::None,
        }
    }

    /// A client with default settings and no API key.
    pub fn new(base_url: impl Into<String>) -> Result<Client, Error> {
        Client::builder(base_url).build()
    }

    /// The base URL requests are made against.
    pub fn base_url(&self) -> &str {
        self.inner.http.base_url()
    }

    /// Sends a payload. A 2xx answer (Alloy's is 202 `ok`) means the receiver decoded it, not
    /// that Loki stored its lines: read them back to prove delivery.
    pub async fn send(&self, payload: &Payload) -> Result<SendReport, Error> {
        self.send_json(&payload.to_json()).await
    }

    /// Sends a JSON body as it is (a recorded fixture, a deliberately malformed document).
    pub async fn send_json(&self, json: &[u8]) -> Result<SendReport, Error> {
        let inner = &self.inner;
        let (bytes, encoding) = match inner.compression {
            Compression::None => (None, None),
            Compression::Gzip => (Some(gzip(json)?), Some("gzip")),
        };
        let bytes: &[u8] = bytes.as_deref().unwrap_or(json);
        if bytes.len() > inner.max_payload_size {
            return Err(Error::PayloadTooLarge {
                size: bytes.len(),
                limit: inner.max_payload_size,
            });
        }
        let body = Body {
            bytes,
            content_type: "application/json",
            content_encoding: encoding,
        };
        let key = inner.api_key.as_ref().map(|k| k.0.as_str());
        let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
        let mut attempts = 0;
        let hint = |err: &Error| {
            err.is_retryable()
                .then(|| err.api().and_then(ApiError::retry_after))
        };
        let answer = inner
            .retry
            .run(
                &mut attempts,
                || async {
                    let answer = inner
                        .http
                        .exchange(Method::Post, COLLECT, &[], Some(body), &headers)
                        .await?;
                    if answer.is_success() {
                        Ok(answer)
                    } else {
                        Err(Error::Api(ApiError::new(
                            answer.status,
                            COLLECT,
                            &answer.body,
                            answer.retry_after,
                        )))
                    }
                },
                hint,
            )
            .await?;
        Ok(SendReport {
            status: answer.status,
            message: String::from_utf8_lossy(&answer.body).into_owned(),
            attempts,
            json_bytes: json.len(),
            wire_bytes: bytes.len(),
        })
    }

    /// A browser's CORS preflight for `POST /collect` from `origin`, asking to send the
    /// `x-api-key` and `content-type` headers, as the web SDK does. Never carries the API key.
    /// Any answer is returned; only a transport failure is an error.
    pub async fn preflight(&self, origin: &str) -> Result<Preflight, Error> {
        let headers = [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type,x-api-key"),
        ];
        let answer = self
            .inner
            .http
            .exchange(Method::Options, COLLECT, &[], None, &headers)
            .await?;
        let header = |name: &str| {
            answer
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        Ok(Preflight {
            status: answer.status,
            allow_origin: header("access-control-allow-origin"),
            allow_headers: header("access-control-allow-headers"),
        })
    }

    /// `GET /-/ready`: Ok once the receiver's server is up (it answers 200 `ready`).
    pub async fn ready(&self) -> Result<(), Error> {
        let path = "/-/ready";
        let answer = self
            .inner
            .http
            .exchange(Method::Get, path, &[], None, &[])
            .await?;
        if answer.is_success() {
            Ok(())
        } else {
            Err(Error::Api(ApiError::new(
                answer.status,
                path,
                &answer.body,
                answer.retry_after,
            )))
        }
    }
}

fn gzip(json: &[u8]) -> Result<Vec<u8>, Error> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 4 + 64),
        flate2::Compression::default(),
    );
    enc.write_all(json)
        .and_then(|()| enc.finish())
        .map_err(|e| Error::Config {
            reason: "gzip the body".into(),
            source: Some(Box::new(e)),
        })
}

#[cfg(test)]
mod tests {
    //! The client's handling of each status, against an in-process fake built on a bare tokio
    //! `TcpListener` that answers from a script. These test the client's paths only; the
    //! receiver's contract is checked in the NixOS VM test against a real Alloy.

    use std::io::Read as _;
    use std::sync::Mutex;
    use std::time::Instant;

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;
    use crate::{ErrorKind, LogLevel, PayloadBuilder};

    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
    }

    struct Fake {
        url: String,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    /// Answers each request with the next `(status, extra header lines, body)`; the last
    /// answer repeats.
    async fn start_fake(script: Vec<(u16, &'static str, &'static str)>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    loop {
                        let mut first = String::new();
                        if reader.read_line(&mut first).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = first.split_whitespace();
                        let method = parts.next().unwrap_or("").to_owned();
                        let path = parts.next().unwrap_or("").to_owned();
                        let mut headers = Vec::new();
                        loop {
                            let mut line = String::new();
                            reader.read_line(&mut line).await.unwrap();
                            let line = line.trim_end();
                            if line.is_empty() {
                                break;
                            }
                            let (k, v) = line.split_once(':').unwrap();
                            headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
                        }
                        let len = headers
                            .iter()
                            .find(|(k, _)| k == "content-length")
                            .map_or(0, |(_, v)| v.parse().unwrap());
                        let mut body = vec![0; len];
                        reader.read_exact(&mut body).await.unwrap();
                        let n = {
                            let mut log = log.lock().unwrap();
                            log.push(Seen {
                                method,
                                path,
                                headers,
                                body,
                            });
                            log.len()
                        };
                        let (status, extra, text) = script[(n - 1).min(script.len() - 1)];
                        let answer = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: text/plain; charset=utf-8\r\n{extra}content-length: {}\r\n\r\n{text}",
                            text.len()
                        );
                        if reader.get_mut().write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Fake { url, seen }
    }

    fn payload() -> Payload {
        let mut b = PayloadBuilder::new("fake-run").unwrap();
        b.log(LogLevel::Info, "hello");
        b.take()
    }

    fn quick_retries(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_elapsed: Duration::from_secs(10),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn accepted_202_sends_plain_json_with_the_api_key() {
        let fake = start_fake(vec![(202, "", "ok")]).await;
        let client = Client::builder(&fake.url)
            .api_key(ApiKey::new("s3cret").unwrap())
            .build()
            .unwrap();
        let p = payload();
        let report = client.send(&p).await.unwrap();
        assert_eq!(
            (report.status, report.message.as_str(), report.attempts),
            (202, "ok", 1)
        );
        assert_eq!(report.json_bytes, report.wire_bytes);
        let seen = fake.seen.lock().unwrap()[0].clone();
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("POST", "/collect")
        );
        assert_eq!(seen.header("x-api-key"), Some("s3cret"));
        assert_eq!(seen.header("content-type"), Some("application/json"));
        assert_eq!(seen.header("content-encoding"), None);
        assert_eq!(Payload::from_json(&seen.body).unwrap(), p);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn refusals_are_typed_and_not_retried() {
        let cases: &[(u16, &str, ErrorKind)] = &[
            (401, "API key not provided or incorrect\n", ErrorKind::Unauthorized),
            (
                400,
                "json: cannot unmarshal number into Go struct field Browser.meta.browser.viewportWidth of type string\n",
                ErrorKind::BadPayload,
            ),
            (413, "Request Entity Too Large\n", ErrorKind::PayloadTooLarge),
        ];
        for &(status, text, kind) in cases {
            let fake = start_fake(vec![(status, "", text)]).await;
            let client = Client::builder(&fake.url)
                .retry(quick_retries(5))
                .build()
                .unwrap();
            let err = client.send(&payload()).await.unwrap_err();
            let api = err.api().unwrap_or_else(|| panic!("{err}"));
            assert_eq!((api.status(), api.kind()), (status, kind));
            assert_eq!(api.message(), text.trim_end());
            assert!(!err.is_retryable());
            assert_eq!(fake.seen.lock().unwrap().len(), 1, "{status} was retried");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn oversize_bodies_are_refused_before_sending() {
        let fake = start_fake(vec![(202, "", "ok")]).await;
        let client = Client::builder(&fake.url)
            .max_payload_size(64)
            .build()
            .unwrap();
        let p = payload();
        let size = p.to_json().len();
        match client.send(&p).await {
            Err(Error::PayloadTooLarge { size: s, limit: 64 }) => assert_eq!(s, size),
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
        assert!(fake.seen.lock().unwrap().is_empty());
        // Exactly at the limit is allowed, as the receiver only refuses `>`.
        let client = Client::builder(&fake.url)
            .max_payload_size(size)
            .build()
            .unwrap();
        assert_eq!(client.send(&p).await.unwrap().status, 202);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn rate_limits_are_retried_honouring_retry_after() {
        let fake = start_fake(vec![
            (429, "retry-after: 1\r\n", "Too Many Requests\n"),
            (202, "", "ok"),
        ])
        .await;
        let client = Client::builder(&fake.url)
            .retry(quick_retries(3))
            .build()
            .unwrap();
        let started = Instant::now();
        let report = client.send(&payload()).await.unwrap();
        assert_eq!((report.status, report.attempts), (202, 2));
        assert!(started.elapsed() >= Duration::from_secs(1));
        {
            let seen = fake.seen.lock().unwrap();
            assert_eq!(seen[0].body, seen[1].body);
        }

        // Alloy itself sends no Retry-After: backoff applies, and the policy bounds attempts.
        let fake = start_fake(vec![(429, "", "Too Many Requests\n")]).await;
        let client = Client::builder(&fake.url)
            .retry(quick_retries(3))
            .build()
            .unwrap();
        let err = client.send(&payload()).await.unwrap_err();
        assert_eq!(err.api().map(ApiError::kind), Some(ErrorKind::RateLimited));
        assert_eq!(err.api().and_then(ApiError::retry_after), None);
        assert_eq!(fake.seen.lock().unwrap().len(), 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn gzip_is_opt_in_and_the_limit_applies_to_the_compressed_size() {
        let fake = start_fake(vec![(202, "", "ok")]).await;
        let client = Client::builder(&fake.url)
            .compression(Compression::Gzip)
            .build()
            .unwrap();
        let mut b = PayloadBuilder::new("gz").unwrap();
        for n in 0..50 {
            b.log(LogLevel::Info, format!("repetitive line {n}"));
        }
        let p = b.take();
        let report = client.send(&p).await.unwrap();
        assert!(report.wire_bytes < report.json_bytes / 3, "{report:?}");
        let seen = fake.seen.lock().unwrap()[0].clone();
        assert_eq!(seen.header("content-encoding"), Some("gzip"));
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(&seen.body[..])
            .read_to_end(&mut json)
            .unwrap();
        assert_eq!(Payload::from_json(&json).unwrap(), p);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn ready_and_refused_connections() {
        let fake = start_fake(vec![(200, "", "ready")]).await;
        let client = Client::new(&fake.url).unwrap();
        client.ready().await.unwrap();
        assert_eq!(fake.seen.lock().unwrap()[0].path, "/-/ready");

        // Nothing listens on a port just released: a transport error, retried per policy.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = Client::builder(format!("http://127.0.0.1:{port}"))
            .retry(quick_retries(2))
            .build()
            .unwrap();
        let err = client.send(&payload()).await.unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    }

    #[test]
    fn api_keys_never_print_and_are_read_from_files() {
        let key = ApiKey::new("hunter2").unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert!(ApiKey::new("").is_err());
        assert!(ApiKey::new("a\nb").is_err());
        let dir = std::env::temp_dir().join(format!("telltale-faro-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, "from-file\n").unwrap();
        assert_eq!(
            ApiKey::from_file(&path).unwrap(),
            ApiKey::new("from-file").unwrap()
        );
        let err = ApiKey::from_file(dir.join("absent")).unwrap_err();
        assert!(err.to_string().contains("absent"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
