//! Synthetic payloads a harness can find again in Loki: the run id rides in
//! `meta.session.attributes` and in every item's `context` (events: `attributes`), next to a
//! sequence number unique within the run.
//!
//! In Loki, Alloy writes them as `session_attr_telltale_run=<run>` on every line, plus
//! `context_telltale_run=<run> context_telltale_seq=<n>` on logs, exceptions and measurements
//! and `event_data_telltale_run=<run> event_data_telltale_seq=<n>` on events. Loki stamps the
//! lines with the time Alloy received them, so matching never relies on the items' timestamps.
//!
//! The Grafana Agent's `app_agent_receiver` drops the `context` of exceptions and measurements,
//! so those carry the tag a second time where every receiver keeps it: a measurement value
//! `telltale_seq` (`telltale_seq=<n>.000000`), and a last stack frame whose filename is
//! `telltale://tag/telltale_run=<run>/telltale_seq=<n>`. [`crate::item_tag`] finds either.

use crate::model::{Event, Exception, Frame, Log, LogLevel, Measurement, Payload, Stacktrace};
use crate::{Error, ItemKind, Meta, Timestamp};

/// The attribute and context key carrying the run id.
pub const RUN_ID_KEY: &str = "telltale_run";
/// The context key carrying the item's sequence number within the run.
pub const SEQ_KEY: &str = "telltale_seq";

/// Builds payloads tagged with a run id and per-item sequence numbers.
///
/// ```
/// use telltale_faro::{AlloyVersion, LogLevel, PayloadBuilder};
///
/// let mut b = PayloadBuilder::new("r-42").unwrap();
/// b.log(LogLevel::Info, "hello");
/// b.event("checkout", "telltale");
/// let payload = b.take();
/// let lines = payload.loki_lines(AlloyVersion::V1_5);
/// assert_eq!(lines[0].get("context_telltale_run"), Some("r-42"));
/// assert_eq!(lines[1].get("event_data_telltale_seq"), Some("1"));
/// assert_eq!(lines[1].get("session_attr_telltale_run"), Some("r-42"));
/// ```
#[derive(Debug, Clone)]
pub struct PayloadBuilder {
    run_id: String,
    next_seq: u64,
    payload: Payload,
}

impl PayloadBuilder {
    /// A builder for run `run_id`, with sequence numbers from 0.
    ///
    /// The run id must be 1 to 128 characters from `A-Z a-z 0-9 . _ : -`, so that logfmt never
    /// quotes it and a LogQL line filter such as `|= "context_telltale_run=r-42 "` matches it
    /// exactly. `meta` starts with `sdk.name = "telltale-faro"`, `app.name = "telltale"`,
    /// `session.id = "telltale-<run_id>"` and the run id in `session.attributes`.
    pub fn new(run_id: impl Into<String>) -> Result<PayloadBuilder, Error> {
        let run_id = run_id.into();
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if run_id.is_empty() || run_id.len() > 128 || !run_id.chars().all(ok_char) {
            return Err(Error::invalid(format!(
                "run id {run_id:?} must be 1 to 128 characters from A-Z a-z 0-9 . _ : -"
            )));
        }
        let mut payload = Payload::default();
        let meta = &mut payload.meta;
        meta.sdk.name = Some("telltale-faro".into());
        meta.sdk.version = Some(env!("CARGO_PKG_VERSION").into());
        meta.app.name = Some("telltale".into());
        meta.session.id = Some(format!("telltale-{run_id}"));
        meta.session
            .attributes
            .insert(RUN_ID_KEY.into(), run_id.clone());
        Ok(PayloadBuilder {
            run_id,
            next_seq: 0,
            payload,
        })
    }

    /// Continues numbering at `seq` (for a second builder in the same run).
    pub fn starting_at(mut self, seq: u64) -> PayloadBuilder {
        self.next_seq = seq;
        self
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The sequence number the next item gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The payload's `meta`, to set the app, user, page, browser or view. Keep the run id in
    /// `session.attributes` if the harness matches on it.
    pub fn meta_mut(&mut self) -> &mut Meta {
        &mut self.payload.meta
    }

    /// The frame that carries an exception's tag through receivers that drop its context.
    fn tag_frame(&self, seq: u64) -> Frame {
        Frame::new(
            "telltaleTag",
            format!(
                "telltale://tag/{RUN_ID_KEY}={}/{SEQ_KEY}={seq}",
                self.run_id
            ),
            1,
            1,
        )
    }

    fn tag(&mut self) -> [(String, String); 2] {
        let seq = self.next_seq;
        self.next_seq += 1;
        [
            (RUN_ID_KEY.to_owned(), self.run_id.clone()),
            (SEQ_KEY.to_owned(), seq.to_string()),
        ]
    }

    /// Adds a log item stamped now; returns it for further changes.
    pub fn log(&mut self, level: LogLevel, message: impl Into<String>) -> &mut Log {
        let mut log = Log {
            message: Some(message.into()),
            level: Some(level.as_str().to_owned()),
            timestamp: Some(Timestamp::now()),
            ..Log::default()
        };
        log.context.extend(self.tag());
        self.payload.logs.push(log);
        self.payload.logs.last_mut().expect("just pushed")
    }

    /// Adds an exception stamped now with the given frames (or, if `frames` is empty, one
    /// synthetic frame in `telltale://synthetic.js`), then the tag frame (module docs).
    /// Filenames that do not start with `http` keep Alloy from trying to download source maps
    /// for them, which keeps its line predictable.
    pub fn exception(
        &mut self,
        kind: impl Into<String>,
        value: impl Into<String>,
        mut frames: Vec<Frame>,
    ) -> &mut Exception {
        if frames.is_empty() {
            frames.push(Frame::new(
                "telltaleSynthetic",
                "telltale://synthetic.js",
                1,
                1,
            ));
        }
        frames.push(self.tag_frame(self.next_seq));
        let mut exception = Exception {
            kind: Some(kind.into()),
            value: Some(value.into()),
            stacktrace: Some(Stacktrace {
                frames,
                ..Stacktrace::default()
            }),
            timestamp: Some(Timestamp::now()),
            ..Exception::default()
        };
        exception.context.extend(self.tag());
        self.payload.exceptions.push(exception);
        self.payload.exceptions.last_mut().expect("just pushed")
    }

    /// Adds a measurement stamped now, with the value `telltale_seq` added (module docs). Values
    /// must be finite: JSON cannot carry the others.
    pub fn measurement<K: Into<String>>(
        &mut self,
        kind: impl Into<String>,
        values: impl IntoIterator<Item = (K, f64)>,
    ) -> Result<&mut Measurement, Error> {
        let mut measurement = Measurement {
            kind: Some(kind.into()),
            timestamp: Some(Timestamp::now()),
            ..Measurement::default()
        };
        for (k, v) in values {
            let k = k.into();
            if !v.is_finite() {
                return Err(Error::invalid(format!(
                    "measurement value {k:?} is {v}; JSON cannot carry it"
                )));
            }
            measurement.values.insert(k, v);
        }
        // Sequence numbers stay far below 2^53, so the f64 is exact.
        measurement
            .values
            .insert(SEQ_KEY.to_owned(), self.next_seq as f64);
        measurement.context.extend(self.tag());
        self.payload.measurements.push(measurement);
        Ok(self.payload.measurements.last_mut().expect("just pushed"))
    }

    /// Adds an event stamped now.
    pub fn event(&mut self, name: impl Into<String>, domain: impl Into<String>) -> &mut Event {
        let mut event = Event {
            name: Some(name.into()),
            domain: Some(domain.into()),
            timestamp: Some(Timestamp::now()),
            ..Event::default()
        };
        event.attributes.extend(self.tag());
        self.payload.events.push(event);
        self.payload.events.last_mut().expect("just pushed")
    }

    /// Items added since the last [`PayloadBuilder::take`].
    pub fn item_count(&self) -> usize {
        self.payload.item_count()
    }

    /// Hands out the payload built so far and starts the next one with the same `meta`;
    /// numbering continues.
    pub fn take(&mut self) -> Payload {
        let next = Payload {
            meta: self.payload.meta.clone(),
            ..Payload::default()
        };
        std::mem::replace(&mut self.payload, next)
    }
}

/// Reads the run id and sequence number an item of this crate's builder carries, from an item's
/// Alloy line fields (see [`crate::LokiLine::get`]) or from a line Loki returned, parsed into
/// key/value pairs.
pub fn run_and_seq<'a>(
    kind: ItemKind,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Option<(&'a str, u64)> {
    let run = get(&kind.item_key(RUN_ID_KEY))?;
    let seq = get(&kind.item_key(SEQ_KEY))?.parse().ok()?;
    Some((run, seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AlloyVersion;

    #[test]
    fn every_item_carries_the_run_and_a_fresh_sequence_number() {
        let mut b = PayloadBuilder::new("run-1").unwrap().starting_at(10);
        b.log(LogLevel::Warn, "w");
        b.exception("Error", "boom", Vec::new());
        b.measurement("m", [("a", 1.0)]).unwrap();
        b.event("e", "d");
        assert_eq!(b.item_count(), 4);
        let p = b.take();
        assert_eq!(b.item_count(), 0);
        assert_eq!(b.next_seq(), 14);
        let lines = p.loki_lines(AlloyVersion::V1_5);
        let seen: Vec<_> = lines
            .iter()
            .map(|l| run_and_seq(l.kind(), |k| l.get(k)).unwrap())
            .collect();
        assert_eq!(
            seen,
            [("run-1", 10), ("run-1", 11), ("run-1", 12), ("run-1", 13)]
        );
        for line in &lines {
            let text = line.line().unwrap();
            assert!(text.contains(" session_attr_telltale_run=run-1 "), "{text}");
            assert!(text.contains(&format!("{}=run-1 ", line.kind().item_key(RUN_ID_KEY))));
        }
        // The next payload keeps meta and numbering.
        b.log(LogLevel::Info, "again");
        let p2 = b.take();
        assert_eq!(p2.meta, p.meta);
        assert_eq!(p2.logs[0].context[SEQ_KEY], "14");
    }

    #[test]
    fn refuses_run_ids_logfmt_would_quote_and_non_finite_values() {
        for bad in ["", "a b", "a=b", "x\"", &"x".repeat(129)] {
            assert!(PayloadBuilder::new(bad).is_err(), "{bad:?}");
        }
        let mut b = PayloadBuilder::new("r").unwrap();
        assert!(b.measurement("m", [("x", f64::NAN)]).is_err());
        assert_eq!(b.next_seq(), 0);
    }
}
