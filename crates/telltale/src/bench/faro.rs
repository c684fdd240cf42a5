//! The `faro` bench: Faro payloads of log items (`telltale-faro`) to Alloy's `faro.receiver`,
//! found in Loki the way the `faro-to-loki` scenario finds them: `{source="pwa-faro"}` with the
//! step's run tag as a line filter. Each log's message is `telltale <tag> seq=<n>`, which Alloy
//! keeps verbatim in the logfmt line it writes.

use std::time::Duration;

use telltale_faro::{ApiKey, Client, ErrorKind, LogLevel, PayloadBuilder, RetryPolicy};

use super::drive::{Sender, Tally};
use super::logs::{self, Tagged};
use super::otlp::{body_bytes, tag};
use super::report::Step;
use super::{BenchError, Settings};
use crate::scenario::{chain, Context};

/// The label Alloy's pipeline gives Faro lines.
const SOURCE: (&str, &str) = ("source", "pwa-faro");
/// Items per payload: a browser batches a few dozen; a bench may send more, but well under the
/// receiver's `max_allowed_payload_size` (5 MiB by default).
const BATCH_ITEMS: u64 = 200;

/// Where the payloads go and where they are looked for.
#[derive(Debug)]
pub(super) struct Target {
    /// The receiver's base URL (the client adds `/collect`).
    pub(super) base_url: String,
    pub(super) api_key: Option<ApiKey>,
    pub(super) loki: logs::Target,
}

impl Target {
    /// The collect URL, for the report.
    pub(super) fn endpoint(&self) -> String {
        format!("{}/collect", self.base_url.trim_end_matches('/'))
    }

    /// Reads the stack's Faro API key, if it has one.
    pub(super) fn api_key(ctx: &Context) -> Result<Option<ApiKey>, BenchError> {
        let Some(cred) = &ctx.stack.alloy.faro_api_key else {
            return Ok(None);
        };
        let key = match (&cred.file, &cred.env) {
            (Some(path), _) => ApiKey::from_file(path),
            (None, Some(var)) => ApiKey::from_env(var),
            (None, None) => unreachable!("the stack model validates credentials"),
        };
        key.map(Some).map_err(|e| BenchError::Setup {
            endpoint: "alloy.faro_api_key".into(),
            message: chain(&e),
            hint: "make the Faro API key file (or variable) readable and non-empty".into(),
        })
    }
}

/// The message of item `seq` of a step tagged `tag`.
fn message(tag: &str, seq: u64) -> String {
    format!("telltale {tag} seq={seq}")
}

struct FaroSender {
    client: Client,
    payloads: PayloadBuilder,
    tag: String,
}

impl Sender for FaroSender {
    fn batch_items(&self) -> u64 {
        BATCH_ITEMS
    }

    async fn send(&mut self, first: u64, count: u64, tally: &mut Tally) {
        for seq in first..first + count {
            self.payloads.log(LogLevel::Info, message(&self.tag, seq));
        }
        tally.bytes += body_bytes(&self.tag, first, count);
        let payload = self.payloads.take();
        account(self.client.send(&payload).await, count, tally);
    }
}

/// Records the receiver's answer to one payload: it takes or refuses the payload whole.
fn account(
    result: Result<telltale_faro::SendReport, telltale_faro::Error>,
    count: u64,
    tally: &mut Tally,
) {
    match result {
        Ok(report) => {
            tally.wire_bytes += report.wire_bytes as u64;
            tally.accepted += count;
        }
        Err(err) => {
            let kind = match err.api().map(|a| a.kind()) {
                Some(ErrorKind::RateLimited) => "throttled",
                Some(ErrorKind::Unauthorized) => "unauthorized",
                Some(ErrorKind::NotFound) => "not_found",
                Some(ErrorKind::PayloadTooLarge) => "request_too_large",
                Some(_) => "other",
                None => "error",
            };
            tally.reject(kind, &chain(&err), count);
        }
    }
}

/// Runs one step at `rate` items per second.
pub(super) async fn step(
    ctx: &Context,
    target: &Target,
    settings: &Settings,
    n: u32,
    rate: f64,
) -> Result<Step, BenchError> {
    let url = target.base_url.clone();
    let setup = |e: &dyn std::error::Error| BenchError::Setup {
        endpoint: url.clone(),
        message: chain(e),
        hint: "fix alloy.faro_port or the stack's host".into(),
    };
    let mut builder = Client::builder(&url).timeout(Duration::from_secs(30));
    if let Some(key) = &target.api_key {
        builder = builder.api_key(key.clone());
    }
    if !settings.retries {
        builder = builder.retry(RetryPolicy::none());
    }
    let client = builder.build().map_err(|e| setup(&e))?;
    let tag = tag(&ctx.run_id, n);
    let mut payloads = PayloadBuilder::new(tag.as_str()).map_err(|e| setup(&e))?;
    // The harness's app, not the PWA's (`[alloy] faro_app_name`), so dashboards can leave it out.
    let app = &mut payloads.meta_mut().app;
    app.name = Some(ctx.stack.alloy.faro_app_name.clone());
    app.environment = Some(ctx.stack.alloy.faro_environment.clone());
    let tagged = Tagged {
        loki: &target.loki,
        label: SOURCE,
        tag: &tag,
        // Alloy's logfmt line carries the browser meta beside the message.
        line_bytes: 600,
    };
    let sender = FaroSender {
        client,
        payloads,
        tag: tag.clone(),
    };
    logs::tagged_step(settings, "faro", n, rate, tagged, sender).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::seq_after_run;
    use telltale_faro::AlloyVersion;

    #[test]
    fn the_sequence_number_is_read_back_from_the_line_alloy_writes() {
        let tag = tag("tt-0000abcd", 2);
        let mut b = PayloadBuilder::new(tag.as_str()).unwrap();
        for seq in 0..3 {
            b.log(LogLevel::Info, message(&tag, seq));
        }
        let payload = b.take();
        for v in [AlloyVersion::V1_5, AlloyVersion::V1_12] {
            let seqs: Vec<Option<u64>> = payload
                .loki_lines(v)
                .into_iter()
                .map(|l| l.line().and_then(|line| seq_after_run(&line, &tag)))
                .collect();
            assert_eq!(seqs, vec![Some(0), Some(1), Some(2)]);
        }
        // Another step's lines are not this step's.
        let line = payload.loki_lines(AlloyVersion::V1_5)[0].line().unwrap();
        assert_eq!(seq_after_run(&line, &super::tag("tt-0000abcd", 20)), None);
    }

    #[test]
    fn a_refused_payload_refuses_every_item_in_it() {
        let mut tally = Tally::default();
        let err = Client::builder("http://[::1")
            .build()
            .expect_err("an unparsable URL is refused");
        account(Err(err), 7, &mut tally);
        assert_eq!((tally.accepted, tally.rejected), (0, 7));
        assert_eq!(tally.rejections["error"], 7);
    }
}
