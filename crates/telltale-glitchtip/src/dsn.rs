//! DSNs (`http(s)://<public_key>@<host>[:port][/prefix]/<project_id>`): parsing, validation,
//! and the ingest URLs and auth strings built from them. A DSN's key never prints.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A parsed Sentry/GlitchTip DSN.
///
/// `Debug` and `Display` hide the key (`http://<key>@127.0.0.1:8200/1`); [`Dsn::expose`] gives
/// the full DSN to hand to an SDK or a deployment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Dsn {
    scheme: String,
    public_key: String,
    secret_key: Option<String>,
    host: String,
    port: Option<u16>,
    path_prefix: String,
    project_id: u64,
}

impl Dsn {
    /// Parses and validates a DSN. The public key must be a UUID, as GlitchTip requires: 32
    /// hex digits, or the dashed 8-4-4-4-12 form. The project id must be a positive integer.
    pub fn parse(dsn: &str) -> Result<Dsn, Error> {
        let parsed = Dsn::parse_unvalidated(dsn)?;
        if !is_uuid(&parsed.public_key) {
            return Err(Error::InvalidDsn {
                reason: format!(
                    "the public key is not a UUID (32 hex digits); it has {} characters",
                    parsed.public_key.len()
                ),
            });
        }
        if parsed.project_id == 0 {
            return Err(Error::InvalidDsn {
                reason: "the project id is 0".into(),
            });
        }
        Ok(parsed)
    }

    /// Parses a DSN's shape without checking the key's format, so negative tests can send a
    /// malformed key and see what the server says.
    pub fn parse_unvalidated(dsn: &str) -> Result<Dsn, Error> {
        let invalid = |reason: &str| Error::InvalidDsn {
            reason: reason.to_owned(),
        };
        let dsn = dsn.trim();
        let url = url::Url::parse(dsn).map_err(|e| Error::InvalidDsn {
            reason: format!("not a URL ({e})"),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        let public_key = url.username();
        if public_key.is_empty() {
            return Err(invalid("it has no public key before the '@'"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("it has no host"))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("it has a query string or fragment"));
        }
        let path = url.path().trim_end_matches('/');
        let (prefix, id) = path.rsplit_once('/').unwrap_or(("", path));
        if id.is_empty() {
            return Err(invalid("it has no project id after the host"));
        }
        let project_id = id
            .parse::<u64>()
            .map_err(|_| invalid("the project id is not a number"))?;
        Ok(Dsn {
            scheme: url.scheme().to_owned(),
            public_key: public_key.to_owned(),
            secret_key: url.password().map(str::to_owned),
            host: host.to_owned(),
            port: url.port(),
            path_prefix: prefix.to_owned(),
            project_id,
        })
    }

    /// The same DSN with another public key (validated), e.g. a wrong one for negative tests.
    pub fn with_public_key(&self, key: &str) -> Result<Dsn, Error> {
        if !is_uuid(key) {
            return Err(Error::InvalidDsn {
                reason: "the public key is not a UUID (32 hex digits)".into(),
            });
        }
        Ok(self.with_public_key_unvalidated(key))
    }

    /// The same DSN with another public key, unchecked (for malformed-key tests).
    pub fn with_public_key_unvalidated(&self, key: &str) -> Dsn {
        Dsn {
            public_key: key.to_owned(),
            ..self.clone()
        }
    }

    /// The same DSN pointing at another project id.
    pub fn with_project_id(&self, project_id: u64) -> Dsn {
        Dsn {
            project_id,
            ..self.clone()
        }
    }

    /// The project id.
    pub fn project_id(&self) -> u64 {
        self.project_id
    }

    /// The host name or address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The server's base URL, without the key, always ending in `/` (a path prefix is kept):
    /// `http://127.0.0.1:8200/`.
    pub fn base_url(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{host}{port}{}/", self.scheme, self.path_prefix)
    }

    /// The store path relative to [`Dsn::base_url`]: `api/<id>/store/`.
    pub fn store_path(&self) -> String {
        format!("api/{}/store/", self.project_id)
    }

    /// The envelope path relative to [`Dsn::base_url`]: `api/<id>/envelope/`.
    pub fn envelope_path(&self) -> String {
        format!("api/{}/envelope/", self.project_id)
    }

    /// The legacy store URL, without auth: `http://host/api/<id>/store/`.
    pub fn store_url(&self) -> String {
        format!("{}{}", self.base_url(), self.store_path())
    }

    /// The envelope URL, without auth: `http://host/api/<id>/envelope/`.
    pub fn envelope_url(&self) -> String {
        format!("{}{}", self.base_url(), self.envelope_path())
    }

    /// The `X-Sentry-Auth` header value. **Holds the key**: never log it.
    pub fn auth_header(&self, client: &str) -> String {
        let mut v = format!(
            "Sentry sentry_version=7, sentry_client={client}, sentry_key={}",
            self.public_key
        );
        if let Some(secret) = &self.secret_key {
            v.push_str(", sentry_secret=");
            v.push_str(secret);
        }
        v
    }

    /// The auth as query parameters (`sentry_version`, `sentry_client`, `sentry_key`), as the
    /// JavaScript SDK sends it. **Holds the key**: never log it.
    pub fn auth_query(&self, client: &str) -> Vec<(&'static str, String)> {
        vec![
            ("sentry_version", "7".to_owned()),
            ("sentry_client", client.to_owned()),
            ("sentry_key", self.public_key.clone()),
        ]
    }

    /// The CSP report URL GlitchTip lists for a key. **Holds the key**.
    pub fn security_url(&self) -> String {
        format!(
            "{}api/{}/security/?glitchtip_key={}",
            self.base_url(),
            self.project_id,
            self.public_key
        )
    }

    /// Whether `other` authenticates as the same key of the same project. Scheme, host and
    /// path may differ: a DSN handed to an app may point at a public edge rather than at the
    /// address the API is reached on. Keys compare as UUIDs (case and dashes ignored).
    pub fn same_key_and_project(&self, other: &Dsn) -> bool {
        let norm = |k: &str| k.replace('-', "").to_ascii_lowercase();
        self.project_id == other.project_id && norm(&self.public_key) == norm(&other.public_key)
    }

    /// The full DSN, key included, to hand to an SDK or a deployment. **Never log it.**
    pub fn expose(&self) -> String {
        self.render(true)
    }

    pub(crate) fn public_key(&self) -> &str {
        &self.public_key
    }

    fn render(&self, with_key: bool) -> String {
        let base = self.base_url();
        let (scheme, rest) = base.split_once("://").unwrap_or(("http", &base));
        let key = if with_key {
            match &self.secret_key {
                Some(secret) => format!("{}:{secret}", self.public_key),
                None => self.public_key.clone(),
            }
        } else {
            "<key>".to_owned()
        };
        format!("{scheme}://{key}@{rest}{}", self.project_id)
    }
}

impl FromStr for Dsn {
    type Err = Error;

    fn from_str(s: &str) -> Result<Dsn, Error> {
        Dsn::parse(s)
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({})", self.render(false))
    }
}

/// 32 hex digits, or the dashed 8-4-4-4-12 UUID form.
pub(crate) fn is_uuid(s: &str) -> bool {
    let hex = |p: &str| p.bytes().all(|c| c.is_ascii_hexdigit());
    if s.len() == 32 {
        return hex(s);
    }
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| hex(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_and_builds_urls() {
        let dsn = Dsn::parse(&format!("http://{KEY}@127.0.0.1:8200/1")).unwrap();
        assert_eq!(dsn.project_id(), 1);
        assert_eq!(dsn.base_url(), "http://127.0.0.1:8200/");
        assert_eq!(dsn.store_url(), "http://127.0.0.1:8200/api/1/store/");
        assert_eq!(dsn.envelope_url(), "http://127.0.0.1:8200/api/1/envelope/");
        assert_eq!(dsn.expose(), format!("http://{KEY}@127.0.0.1:8200/1"));
        assert_eq!(
            dsn.auth_header("t/1"),
            format!("Sentry sentry_version=7, sentry_client=t/1, sentry_key={KEY}")
        );
        let prefixed = Dsn::parse(&format!("https://{KEY}@errors.example.org/gt/42/")).unwrap();
        assert_eq!(
            prefixed.envelope_url(),
            "https://errors.example.org/gt/api/42/envelope/"
        );
        assert_eq!(
            prefixed.expose(),
            format!("https://{KEY}@errors.example.org/gt/42")
        );
    }

    #[test]
    fn same_key_ignores_the_address_and_the_uuid_spelling() {
        let api = Dsn::parse(&format!("http://{KEY}@127.0.0.1:8200/1")).unwrap();
        let edge = Dsn::parse("https://01234567-89AB-CDEF-0123-456789ABCDEF@errors.example.org/1")
            .unwrap();
        assert!(api.same_key_and_project(&edge));
        assert!(!api.same_key_and_project(&edge.with_project_id(2)));
        let other = Dsn::parse("http://fedcba9876543210fedcba9876543210@127.0.0.1:8200/1").unwrap();
        assert!(!api.same_key_and_project(&other));
    }

    #[test]
    fn keys_never_print() {
        let dsn = Dsn::parse(&format!("http://{KEY}:sec@127.0.0.1:8200/1")).unwrap();
        for shown in [format!("{dsn}"), format!("{dsn:?}")] {
            assert!(!shown.contains(KEY) && !shown.contains("sec@"), "{shown}");
        }
        assert_eq!(dsn.to_string(), "http://<key>@127.0.0.1:8200/1");
    }

    #[test]
    fn refuses_what_glitchtip_refuses() {
        for bad in [
            "not a dsn",
            "ftp://0123456789abcdef0123456789abcdef@h/1",
            "http://127.0.0.1:8200/1",
            "http://0123456789abcdef0123456789abcdef@127.0.0.1:8200/",
            "http://0123456789abcdef0123456789abcdef@127.0.0.1:8200/abc",
            "http://not-a-uuid@127.0.0.1:8200/1",
            "http://0123456789abcdef0123456789abcdef@127.0.0.1:8200/0",
        ] {
            let err = Dsn::parse(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidDsn { .. }), "{bad}: {err}");
            assert!(!err.to_string().contains(KEY), "{err}");
        }
        assert!(Dsn::parse("http://01234567-89ab-cdef-0123-456789abcdef@h/7").is_ok());
        assert!(Dsn::parse_unvalidated("http://not-a-uuid@h/7").is_ok());
    }
}
