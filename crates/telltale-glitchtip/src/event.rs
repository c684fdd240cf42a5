//! Events this crate sends: a small builder for Sentry event JSON (message or exception, tags,
//! environment, release, fingerprint), with random v4 event ids.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// A new random event id: a version-4 UUID as 32 lowercase hex digits.
pub fn new_event_id() -> String {
    let mut bytes = [0u8; 16];
    for b in &mut bytes {
        *b = fastrand::u8(..);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An event's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Level {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `warning`
    Warning,
    /// `error`
    #[default]
    Error,
    /// `fatal`
    Fatal,
}

impl Level {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

/// An event to send, as store JSON, an envelope item, or through the `sentry` SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub(crate) event_id: String,
    pub(crate) timestamp: SystemTime,
    pub(crate) level: Level,
    pub(crate) message: Option<String>,
    pub(crate) exception: Option<(String, String)>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) extra: BTreeMap<String, String>,
    pub(crate) environment: Option<String>,
    pub(crate) release: Option<String>,
    pub(crate) fingerprint: Vec<String>,
    pub(crate) logger: Option<String>,
}

impl NewEvent {
    fn blank() -> NewEvent {
        NewEvent {
            event_id: new_event_id(),
            timestamp: SystemTime::now(),
            level: Level::Error,
            message: None,
            exception: None,
            tags: BTreeMap::new(),
            extra: BTreeMap::new(),
            environment: None,
            release: None,
            fingerprint: Vec::new(),
            logger: None,
        }
    }

    /// A message event (level `error` unless changed).
    pub fn message(text: impl Into<String>) -> NewEvent {
        NewEvent {
            message: Some(text.into()),
            ..NewEvent::blank()
        }
    }

    /// An exception event: `exception_type: value`, as a panic or error report reads.
    pub fn exception(exception_type: impl Into<String>, value: impl Into<String>) -> NewEvent {
        NewEvent {
            exception: Some((exception_type.into(), value.into())),
            ..NewEvent::blank()
        }
    }

    /// Sets a tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> NewEvent {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Sets an `extra` value.
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<String>) -> NewEvent {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Sets the level.
    pub fn level(mut self, level: Level) -> NewEvent {
        self.level = level;
        self
    }

    /// Sets the environment.
    pub fn environment(mut self, environment: impl Into<String>) -> NewEvent {
        self.environment = Some(environment.into());
        self
    }

    /// Sets the release.
    pub fn release(mut self, release: impl Into<String>) -> NewEvent {
        self.release = Some(release.into());
        self
    }

    /// Sets the logger name.
    pub fn logger(mut self, logger: impl Into<String>) -> NewEvent {
        self.logger = Some(logger.into());
        self
    }

    /// Sets the fingerprint: events with the same fingerprint form one issue.
    pub fn fingerprint<I, S>(mut self, parts: I) -> NewEvent
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fingerprint = parts.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the event's timestamp (default: when it was built).
    pub fn timestamp(mut self, t: SystemTime) -> NewEvent {
        self.timestamp = t;
        self
    }

    /// Replaces the event id (32 hex digits, or a dashed UUID, which is normalized).
    pub fn with_event_id(mut self, id: &str) -> NewEvent {
        self.event_id = crate::client::normalize_event_id(id).unwrap_or_else(|| id.to_owned());
        self
    }

    /// The event id.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The tags.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.tags
    }

    /// The event as Sentry event JSON (one line).
    pub fn to_json(&self) -> String {
        let mut m = serde_json::Map::new();
        m.insert("event_id".into(), self.event_id.clone().into());
        m.insert(
            "timestamp".into(),
            crate::time::format_rfc3339(self.timestamp).into(),
        );
        m.insert("platform".into(), "rust".into());
        m.insert("level".into(), self.level.as_str().into());
        if let Some(logger) = &self.logger {
            m.insert("logger".into(), logger.clone().into());
        }
        if let Some(text) = &self.message {
            m.insert(
                "message".into(),
                serde_json::json!({ "formatted": text, "message": text }),
            );
        }
        if let Some((ty, value)) = &self.exception {
            m.insert(
                "exception".into(),
                serde_json::json!({ "values": [{
                    "type": ty,
                    "value": value,
                    "mechanism": { "type": "telltale", "handled": false },
                }]}),
            );
        }
        if !self.tags.is_empty() {
            m.insert("tags".into(), serde_json::json!(self.tags));
        }
        if !self.extra.is_empty() {
            m.insert("extra".into(), serde_json::json!(self.extra));
        }
        if let Some(env) = &self.environment {
            m.insert("environment".into(), env.clone().into());
        }
        if let Some(rel) = &self.release {
            m.insert("release".into(), rel.clone().into());
        }
        if !self.fingerprint.is_empty() {
            m.insert("fingerprint".into(), serde_json::json!(self.fingerprint));
        }
        m.insert(
            "sdk".into(),
            serde_json::json!({ "name": "telltale-glitchtip", "version": env!("CARGO_PKG_VERSION") }),
        );
        serde_json::Value::Object(m).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v4_hex() {
        let a = new_event_id();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(&a[12..13], "4");
        assert_ne!(a, new_event_id());
    }

    #[test]
    fn json_holds_what_was_set() {
        let e = NewEvent::exception("Panic", "boom")
            .tag("run", "r1")
            .tag("seq", "3")
            .environment("test")
            .fingerprint(["r1"]);
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["event_id"], e.event_id());
        assert_eq!(v["tags"]["seq"], "3");
        assert_eq!(v["exception"]["values"][0]["type"], "Panic");
        assert_eq!(v["fingerprint"][0], "r1");
        assert!(!e.to_json().contains('\n'));
    }
}
