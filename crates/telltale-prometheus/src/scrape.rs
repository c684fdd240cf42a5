//! Scraping a `/metrics` endpoint the way Prometheus 3 does, and judging its `Content-Type` the
//! way Prometheus 3 does: blank, unparsable or unsupported types fail the scrape unless the
//! target's job sets `fallback_scrape_protocol` (prometheus/prometheus `model/textparse`,
//! `extractMediaType`).

use std::time::Duration;

use telltale_http::{Auth, HttpConfig, Method};

use crate::exposition::{Exposition, Format};
use crate::Error;

/// The `Accept` header Prometheus 3 sends by default (`scrape/scrape.go`, `acceptHeader` over
/// `config.DefaultScrapeProtocols`, with UTF-8 escaping allowed).
pub const PROMETHEUS3_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
application/openmetrics-text;version=0.0.1;q=0.5,\
text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// What Prometheus 3 makes of a target's `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentTypeCheck {
    /// Accepted: one of `text/plain`, `application/openmetrics-text`,
    /// `application/vnd.google.protobuf`.
    Accepted {
        /// The media type, lowercased, without parameters.
        media_type: String,
    },
    /// No `Content-Type`: "non-compliant scrape target sending blank Content-Type".
    Blank,
    /// Not a valid media type (e.g. `text/plain; version=0.0.4, charset=utf-8`).
    Malformed {
        /// Why it does not parse.
        reason: String,
    },
    /// A valid media type Prometheus cannot parse metrics from (e.g. `text/html`).
    Unsupported {
        /// The media type.
        media_type: String,
    },
}

impl ContentTypeCheck {
    /// Judges a `Content-Type` header value (or its absence).
    pub fn of(content_type: Option<&str>) -> ContentTypeCheck {
        let Some(value) = content_type.map(str::trim).filter(|v| !v.is_empty()) else {
            return ContentTypeCheck::Blank;
        };
        match crate::exposition::parse_media_type(value) {
            None => ContentTypeCheck::Malformed { reason: format!("{value:?} is not a media type with parameters (RFC 2045), as Go's mime.ParseMediaType reads them") },
            Some(media) => match media.essence.as_str() {
                "text/plain" | "application/openmetrics-text" | "application/vnd.google.protobuf" => {
                    ContentTypeCheck::Accepted { media_type: media.essence }
                }
                _ => ContentTypeCheck::Unsupported { media_type: media.essence },
            },
        }
    }

    /// Whether Prometheus 3 scrapes the target without a `fallback_scrape_protocol`.
    pub fn prometheus3_accepts(&self) -> bool {
        matches!(self, ContentTypeCheck::Accepted { .. })
    }
}

/// Options for [`scrape`].
#[derive(Debug, Clone)]
pub struct ScrapeOptions {
    /// The `Accept` header; [`PROMETHEUS3_ACCEPT`] by default.
    pub accept: String,
    /// Ask for gzip, as Prometheus does.
    pub gzip: bool,
    /// The deadline for the whole scrape.
    pub timeout: Duration,
    /// Credentials, if the endpoint wants them.
    pub auth: Option<Auth>,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        ScrapeOptions {
            accept: PROMETHEUS3_ACCEPT.to_owned(),
            gzip: true,
            timeout: Duration::from_secs(10),
            auth: None,
        }
    }
}

/// What one scrape returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` the target answered, if any.
    pub content_type: Option<String>,
    /// The `Content-Encoding`, if any.
    pub content_encoding: Option<String>,
    /// How Prometheus 3 judges that `Content-Type`.
    pub content_type_check: ContentTypeCheck,
    /// The body as received (still compressed if it was).
    pub body: Vec<u8>,
}

impl Scrape {
    /// The exposition format the `Content-Type` names, if it names one.
    pub fn format(&self) -> Option<Format> {
        self.content_type
            .as_deref()
            .and_then(Format::from_content_type)
    }

    /// Parses the body (decompressing it when needed).
    pub fn exposition(&self) -> Result<Exposition, Error> {
        crate::exposition::parse_bytes(
            &self.body,
            self.content_type.as_deref(),
            self.content_encoding.as_deref(),
        )
    }
}

/// GETs a metrics endpoint (a full URL) with Prometheus 3's headers.
pub async fn scrape(url: &str, options: &ScrapeOptions) -> Result<Scrape, Error> {
    let parsed = url::Url::parse(url).map_err(|e| Error::Config {
        reason: format!("invalid scrape URL {url:?}"),
        source: Some(Box::new(e)),
    })?;
    // The client keeps a base URL's path as a prefix ending in '/'; the endpoint path must stay
    // exact, so the base is the origin and the path (with any query) goes in the request.
    let origin = parsed[..url::Position::BeforePath].to_owned();
    let path = parsed[url::Position::BeforePath..].to_owned();
    let mut config = HttpConfig::new(
        origin,
        concat!("telltale-prometheus/", env!("CARGO_PKG_VERSION")),
    );
    config.set_timeout(options.timeout);
    if let Some(auth) = &options.auth {
        config.set_auth(auth.clone());
    }
    let http = config.build()?;
    let encoding = if options.gzip { "gzip" } else { "identity" };
    let headers = [
        ("accept", options.accept.as_str()),
        ("accept-encoding", encoding),
    ];
    let answer = http
        .exchange(Method::Get, &path, &[], None, &headers)
        .await?;
    let content_encoding = answer.header("content-encoding").map(str::to_owned);
    Ok(Scrape {
        status: answer.status,
        content_type_check: ContentTypeCheck::of(answer.content_type.as_deref()),
        content_type: answer.content_type,
        content_encoding,
        body: answer.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_content_types_like_prometheus_3() {
        let ok = |ct: &str| ContentTypeCheck::of(Some(ct)).prometheus3_accepts();
        assert!(ok("text/plain; version=0.0.4; charset=utf-8"));
        assert!(ok(
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        ));
        assert!(ok("TEXT/PLAIN"));
        assert_eq!(ContentTypeCheck::of(None), ContentTypeCheck::Blank);
        assert_eq!(ContentTypeCheck::of(Some("  ")), ContentTypeCheck::Blank);
        assert!(matches!(
            ContentTypeCheck::of(Some("text/plain; version=0.0.4, charset=utf-8")),
            ContentTypeCheck::Malformed { .. }
        ));
        assert!(matches!(
            ContentTypeCheck::of(Some("text")),
            ContentTypeCheck::Malformed { .. }
        ));
        assert_eq!(
            ContentTypeCheck::of(Some("text/html; charset=utf-8")),
            ContentTypeCheck::Unsupported {
                media_type: "text/html".into()
            }
        );
    }
}
