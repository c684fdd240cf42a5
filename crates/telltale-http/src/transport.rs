//! One configured HTTP client per server: base URL (a path prefix is kept), auth, extra headers,
//! TLS with extra trusted CAs, timeouts, and a single `exchange` that returns any status.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Auth;
use crate::error::{BoxError, Error};
use crate::retry::parse_retry_after;

/// Settings for an [`Http`] client.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    base_url: String,
    auth: Option<Auth>,
    ca_files: Vec<PathBuf>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
}

impl HttpConfig {
    /// Settings for the server at `base_url`, with a 30 s request and 5 s connect timeout.
    pub fn new(base_url: impl Into<String>, user_agent: impl Into<String>) -> HttpConfig {
        HttpConfig {
            base_url: base_url.into(),
            auth: None,
            ca_files: Vec::new(),
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            user_agent: user_agent.into(),
        }
    }

    /// Replaces the base URL.
    pub fn set_base_url(&mut self, base_url: impl Into<String>) {
        self.base_url = base_url.into();
    }

    /// Authenticates every request.
    pub fn set_auth(&mut self, auth: Auth) {
        self.auth = Some(auth);
    }

    /// Trusts the CA certificates in a PEM file, besides the Mozilla roots.
    pub fn add_ca_file(&mut self, path: impl Into<PathBuf>) {
        self.ca_files.push(path.into());
    }

    /// Sends a header on every request (a tenant header, a proxy's token, …).
    pub fn add_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers.push((name.into(), value.into()));
    }

    /// The deadline for one HTTP exchange, body included.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The deadline for establishing a connection.
    pub fn set_connect_timeout(&mut self, timeout: Duration) {
        self.connect_timeout = timeout;
    }

    /// Builds the client.
    pub fn build(&self) -> Result<Http, Error> {
        let mut base = url::Url::parse(&self.base_url).map_err(|e| {
            Error::config(
                format!("invalid base URL {:?}", self.base_url),
                Some(Box::new(e)),
            )
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::config(
                format!("base URL {:?} must be http or https", self.base_url),
                None,
            ));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let tls = Arc::new(tls_config(&self.ca_files)?);
        let mut headers = reqwest::header::HeaderMap::new();
        let mut put = |name: &str, value: &str, sensitive: bool| -> Result<(), Error> {
            let header = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                Error::config(format!("invalid header name {name:?}"), Some(Box::new(e)))
            })?;
            let mut value = reqwest::header::HeaderValue::from_str(value).map_err(|e| {
                Error::config(
                    format!("invalid value for header {name}"),
                    Some(Box::new(e)),
                )
            })?;
            value.set_sensitive(sensitive);
            headers.insert(header, value);
            Ok(())
        };
        if let Some(auth) = &self.auth {
            put("authorization", &auth.header_value(), true)?;
        }
        for (name, value) in &self.headers {
            put(name, value, false)?;
        }
        let client = reqwest::Client::builder()
            .user_agent(&self.user_agent)
            .default_headers(headers.clone())
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .tls_backend_preconfigured((*tls).clone())
            .build()
            .map_err(|e| Error::config("could not build the HTTP client", Some(Box::new(e))))?;
        Ok(Http {
            client,
            base,
            headers,
            tls,
            timeout: self.timeout,
        })
    }
}

fn tls_config(ca_files: &[PathBuf]) -> Result<rustls::ClientConfig, Error> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in ca_files {
        let shown = path.display();
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| {
                Error::config(format!("could not read CA file {shown}"), Some(Box::new(e)))
            })?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::config(
                    format!("CA file {shown} is not valid PEM"),
                    Some(Box::new(e)),
                )
            })?;
        if certs.is_empty() {
            return Err(Error::config(
                format!("CA file {shown} holds no certificate"),
                None,
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                Error::config(
                    format!("CA file {shown} holds an unusable certificate"),
                    Some(Box::new(e)),
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| Error::config("TLS setup failed", Some(Box::new(e))))
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// OPTIONS (a CORS preflight)
    Options,
}

/// A request body with its content headers.
#[derive(Debug, Clone, Copy)]
pub struct Body<'a> {
    /// The bytes sent.
    pub bytes: &'a [u8],
    /// `Content-Type`.
    pub content_type: &'a str,
    /// `Content-Encoding`, if any.
    pub content_encoding: Option<&'a str>,
}

/// An HTTP answer, read whole, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// `Retry-After`, parsed, if sent.
    pub retry_after: Option<Duration>,
    /// Every response header, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A configured client for one server. Cheap to clone; clones share a connection pool.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    base: url::Url,
    headers: reqwest::header::HeaderMap,
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
}

impl Http {
    /// The base URL, always ending in `/`.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// The URL of an API path below the base (a leading `/` is relative to the base too).
    pub fn url(&self, path: &str) -> url::Url {
        self.base
            .join(path.trim_start_matches('/'))
            .unwrap_or_else(|_| self.base.clone())
    }

    /// The headers sent on every request (auth included), for protocols such as WebSocket that
    /// open their own connections.
    pub fn default_headers(&self) -> &reqwest::header::HeaderMap {
        &self.headers
    }

    /// The TLS settings, for protocols that open their own connections.
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One exchange, no retries. Any HTTP status is an `Ok` answer for the caller to judge.
    pub async fn exchange(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Body<'_>>,
        extra_headers: &[(&str, &str)],
    ) -> Result<Answer, Error> {
        let url = self.url(path);
        let mut req = match method {
            Method::Get => self.client.get(url),
            Method::Post => self.client.post(url),
            Method::Put => self.client.put(url),
            Method::Delete => self.client.delete(url),
            Method::Options => self.client.request(reqwest::Method::OPTIONS, url),
        };
        if !query.is_empty() {
            req = req.query(query);
        }
        for (name, value) in extra_headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", body.content_type)
                .body(body.bytes.to_vec());
            if let Some(enc) = body.content_encoding {
                req = req.header("content-encoding", enc);
            }
        }
        let transport = |e: reqwest::Error| -> Error {
            if e.is_timeout() {
                Error::Timeout {
                    endpoint: path.to_owned(),
                    timeout: self.timeout,
                }
            } else {
                Error::Transport {
                    endpoint: path.to_owned(),
                    source: Box::new(e) as BoxError,
                }
            }
        };
        let res = req.send().await.map_err(transport)?;
        let status = res.status().as_u16();
        let headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let retry_after = find("retry-after").as_deref().and_then(parse_retry_after);
        let content_type = find("content-type");
        let body = res.bytes().await.map_err(transport)?.to_vec();
        Ok(Answer {
            status,
            body,
            content_type,
            retry_after,
            headers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_prefix_is_kept() {
        let http = HttpConfig::new("https://example.invalid/loki", "t")
            .build()
            .unwrap();
        assert_eq!(
            http.url("/loki/api/v1/push").as_str(),
            "https://example.invalid/loki/loki/api/v1/push"
        );
        let http = HttpConfig::new("http://127.0.0.1:3100", "t")
            .build()
            .unwrap();
        assert_eq!(http.url("/ready").as_str(), "http://127.0.0.1:3100/ready");
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        assert!(matches!(
            HttpConfig::new("not a url", "t").build(),
            Err(Error::Config { .. })
        ));
        assert!(matches!(
            HttpConfig::new("ftp://x", "t").build(),
            Err(Error::Config { .. })
        ));
        let mut cfg = HttpConfig::new("http://x", "t");
        cfg.add_ca_file("/nonexistent/ca.pem");
        let err = cfg.build().unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let mut cfg = HttpConfig::new("http://x", "t");
        cfg.add_header("bad header", "v");
        assert!(matches!(cfg.build(), Err(Error::Config { .. })));
    }
}
