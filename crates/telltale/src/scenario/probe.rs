//! `probe`: the break-glass uptime probe. From outside the host, every `interval` it asks each of
//! the stack's public edge and tailnet service URLs for `/`; any HTTP answer, whatever its status,
//! means the target is alive. A target that gave no answer `dead_after` probes in a row, after it
//! was once seen alive, is declared dead, and one "down" alert is POSTed to the webhook per
//! outage, then one "recovered" alert when it answers again (`docs/probe.md`).
//!
//! The verdict follows the rule every scenario follows: a detected outage is a failed check
//! (exit 1). A target that never answered is `unavailable` (exit 2), never "detected dead":
//! without one answer there is no proof the probe can see it at all. A webhook that refuses an
//! alert is a failed check.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use telltale_http::{Body, Http, HttpConfig, Method};

use super::{chain, Context, Outcome, Stop};

/// The probe's knobs (`telltale probe --interval --dead-after --webhook --for`).
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Time between two probes of a target; also each probe's timeout.
    pub interval: Duration,
    /// Probes in a row without an answer that make a target dead.
    pub dead_after: u32,
    /// Where down and recovered alerts go (`{"text": …}`, as Slack and Discord's `/slack` read).
    pub webhook: Option<String>,
    /// How long the probe runs.
    pub duration: Duration,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            interval: Duration::from_secs(1),
            dead_after: 3,
            webhook: None,
            duration: Duration::from_secs(30),
        }
    }
}

impl ProbeOptions {
    /// Refuses knobs under which no outage could be detected.
    pub fn validate(&self) -> Result<(), String> {
        if self.dead_after == 0 {
            return Err("--dead-after must be at least 1".into());
        }
        if self.interval < Duration::from_millis(100) {
            return Err("--interval must be at least 100ms".into());
        }
        if self.duration < self.interval * (self.dead_after + 1) {
            return Err(format!(
                "--for must be at least --interval × (--dead-after + 1) = {:?}: a shorter run cannot see an answer and then {} misses",
                self.interval * (self.dead_after + 1),
                self.dead_after
            ));
        }
        Ok(())
    }

    /// The longest time from a target's last answer to it being declared dead: `dead_after`
    /// intervals, plus one for a probe already on its way when the host went.
    pub fn stated_detection(&self) -> Duration {
        self.interval * (self.dead_after + 1)
    }
}

/// One thing the probe watches.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    name: String,
    url: String,
    ca_file: Option<std::path::PathBuf>,
}

/// The edge and the service URLs the stack description derives from `host` and ports; a URL
/// named twice is probed once, under the first name.
fn targets(ctx: &Context) -> Vec<Target> {
    let s = &ctx.stack;
    let mut all = Vec::new();
    if let Some(edge) = &s.edge {
        all.push(("edge", edge.url.clone(), edge.ca_file.clone()));
    }
    all.push(("loki", ctx.loki_url(), None));
    all.push(("prometheus", ctx.prometheus_url(), None));
    all.push(("grafana", ctx.grafana_url(), None));
    all.push(("glitchtip", ctx.glitchtip_url(), None));
    all.push(("alloy", ctx.alloy_url(s.alloy.admin_port), None));
    if let Some(am) = &s.alertmanager {
        all.push(("alertmanager", am.base_url(&s.host), None));
    }
    let mut out: Vec<Target> = Vec::new();
    for (name, url, ca_file) in all {
        if !out.iter().any(|t| t.url == url) {
            out.push(Target {
                name: name.to_owned(),
                url,
                ca_file,
            });
        }
    }
    out
}

/// One outage of one target, times in milliseconds since the probe started.
#[derive(Debug, Clone, Serialize)]
struct Outage {
    last_answer_ms: u64,
    first_miss_ms: u64,
    declared_dead_ms: u64,
    /// From the last answer to the declaration: the upper bound of detection latency.
    detection_ms: u64,
    recovered_ms: Option<u64>,
    last_error: String,
}

/// What one target's probe loop saw.
#[derive(Debug, Default)]
struct Watch {
    probes: u64,
    answers: u64,
    first_answer_ms: Option<u64>,
    last_error: Option<String>,
    outages: Vec<Outage>,
    alerts: Vec<AlertSent>,
}

/// One alert POSTed to the webhook, and what the webhook answered.
#[derive(Debug, Clone, Serialize)]
struct AlertSent {
    event: &'static str,
    at_ms: u64,
    answer: Result<u16, String>,
}

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let opts = ctx.options.probe.clone();
    opts.validate()
        .map_err(|why| Stop::error("probe", why, "change the probe's options"))?;
    let webhook = match &opts.webhook {
        Some(url) => Some(client(url, None, Duration::from_secs(5))?),
        None => None,
    };
    let targets = targets(ctx);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in &targets {
        let http = client(&t.url, t.ca_file.as_deref(), opts.interval)?;
        let (t, opts, webhook, run_id) =
            (t.clone(), opts.clone(), webhook.clone(), ctx.run_id.clone());
        tasks.push(tokio::spawn(async move {
            watch(&t, &http, &opts, webhook.as_ref(), &run_id, started).await
        }));
    }
    let mut watches = Vec::new();
    for (t, task) in targets.iter().zip(tasks) {
        let w = task.await.map_err(|e| {
            Stop::error(
                &t.url,
                format!("the probe task ended: {e}"),
                "a telltale bug",
            )
        })?;
        watches.push((t, w));
    }

    out.evidence.record(
        "options",
        json!({
            "interval_ms": millis(opts.interval),
            "dead_after": opts.dead_after,
            "stated_detection_ms": millis(opts.stated_detection()),
            "duration_ms": millis(opts.duration),
            "webhook": opts.webhook.is_some(),
        }),
    );
    let mut never = Vec::new();
    let mut down = Vec::new();
    for (t, w) in &watches {
        out.evidence.push(
            "targets",
            json!({
                "name": t.name,
                "url": t.url,
                "probes": w.probes,
                "answers": w.answers,
                "first_answer_ms": w.first_answer_ms,
                "outages": w.outages,
                "alerts": w.alerts,
            }),
        );
        if w.first_answer_ms.is_none() {
            never.push(format!(
                "{} ({}): {}",
                t.name,
                t.url,
                w.last_error.as_deref().unwrap_or("no probe ran")
            ));
            continue;
        }
        let still_down = w.outages.last().is_some_and(|o| o.recovered_ms.is_none());
        let actual = if w.outages.is_empty() {
            format!("answered {} of {} probes", w.answers, w.probes)
        } else {
            let each: Vec<String> = w
                .outages
                .iter()
                .map(|o| {
                    format!(
                        "dead at +{:.1} s, {} ms after its last answer ({}){}",
                        o.declared_dead_ms as f64 / 1000.0,
                        o.detection_ms,
                        o.last_error,
                        match o.recovered_ms {
                            Some(r) => format!(", recovered at +{:.1} s", r as f64 / 1000.0),
                            None => String::new(),
                        }
                    )
                })
                .collect();
            each.join("; ")
        };
        out.check(
            format!("probe: {} ({}) alive", t.name, t.url),
            w.outages.is_empty(),
            format!("no {} probes in a row without an answer", opts.dead_after),
            actual,
        );
        if !w.outages.is_empty() {
            down.push(format!(
                "{}{}",
                t.name,
                if still_down { "" } else { " (recovered)" }
            ));
        }
        for a in &w.alerts {
            out.check(
                format!("webhook: {} alert for {} accepted", a.event, t.name),
                matches!(a.answer, Ok(s) if (200..300).contains(&s)),
                "a 2xx answer",
                match &a.answer {
                    Ok(s) => format!("HTTP {s}"),
                    Err(e) => format!("no answer: {e}"),
                },
            );
        }
    }
    if !down.is_empty() {
        out.summary(format!("detected dead: {}", down.join(", ")));
    } else if never.is_empty() {
        out.summary(format!(
            "{} targets answered for {:.0} s; a dead one would be detected within {:.1} s",
            watches.len(),
            opts.duration.as_secs_f64(),
            opts.stated_detection().as_secs_f64()
        ));
    }
    if !never.is_empty() {
        return Err(Stop::unavailable(
            "probe",
            format!(
                "never answered, so an outage could not be detected: {}",
                never.join("; ")
            ),
            "probe from a vantage point that reaches the host (the tailnet, the internet for the edge), with the stack up",
        ));
    }
    Ok(())
}

/// Probes one target until the run ends.
async fn watch(
    t: &Target,
    http: &Http,
    opts: &ProbeOptions,
    webhook: Option<&Http>,
    run_id: &str,
    started: Instant,
) -> Watch {
    let mut w = Watch::default();
    let mut last_answer: Option<u64> = None;
    let mut misses: u32 = 0;
    let mut first_miss: u64 = 0;
    let mut dead = false;
    let end = started + opts.duration;
    let mut next = Instant::now();
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        next += opts.interval;
        w.probes += 1;
        let answer = tokio::time::timeout(
            opts.interval,
            http.exchange(Method::Get, "", &[], None, &[]),
        )
        .await;
        let at = millis(started.elapsed());
        match answer {
            Ok(Ok(_)) => {
                w.answers += 1;
                w.first_answer_ms.get_or_insert(at);
                last_answer = Some(at);
                misses = 0;
                if dead {
                    dead = false;
                    if let Some(o) = w.outages.last_mut() {
                        o.recovered_ms = Some(at);
                    }
                    alert(&mut w, webhook, t, run_id, "recovered", at, started).await;
                }
            }
            miss => {
                let why = match miss {
                    Ok(Err(e)) => chain(&e),
                    _ => format!("no answer within {} ms", millis(opts.interval)),
                };
                w.last_error = Some(why.clone());
                let Some(last) = last_answer else {
                    // Never seen alive: nothing to declare dead.
                    continue;
                };
                if misses == 0 {
                    first_miss = at;
                }
                misses += 1;
                if misses == opts.dead_after && !dead {
                    dead = true;
                    w.outages.push(Outage {
                        last_answer_ms: last,
                        first_miss_ms: first_miss,
                        declared_dead_ms: at,
                        detection_ms: at.saturating_sub(last),
                        recovered_ms: None,
                        last_error: why,
                    });
                    alert(&mut w, webhook, t, run_id, "down", at, started).await;
                }
            }
        }
    }
    w
}

/// POSTs one alert, Slack's `{"text": …}` with Discord's `content` beside it, and the facts in a
/// `telltale` object for receivers that read JSON.
async fn alert(
    w: &mut Watch,
    webhook: Option<&Http>,
    t: &Target,
    run_id: &str,
    event: &'static str,
    at_ms: u64,
    started: Instant,
) {
    let Some(http) = webhook else { return };
    let text = match &w.outages.last() {
        Some(o) if event == "down" => format!(
            "telltale probe: {} ({}) is DOWN: no answer since +{:.1} s ({})",
            t.name,
            t.url,
            o.last_answer_ms as f64 / 1000.0,
            o.last_error
        ),
        _ => format!("telltale probe: {} ({}) has RECOVERED", t.name, t.url),
    };
    let outage = w.outages.last().cloned();
    let body = json!({
        "text": text,
        "content": text,
        "telltale": {
            "event": event,
            "target": t.name,
            "url": t.url,
            "run": run_id,
            "at_ms": at_ms,
            "outage": outage,
        },
    })
    .to_string();
    let answer = http
        .exchange(
            Method::Post,
            "",
            &[],
            Some(Body {
                bytes: body.as_bytes(),
                content_type: "application/json",
                content_encoding: None,
            }),
            &[],
        )
        .await
        .map(|a| a.status)
        .map_err(|e| chain(&e));
    w.alerts.push(AlertSent {
        event,
        at_ms: millis(started.elapsed()).max(at_ms),
        answer,
    });
}

fn client(url: &str, ca_file: Option<&std::path::Path>, timeout: Duration) -> Result<Http, Stop> {
    let mut config = HttpConfig::new(url, concat!("telltale-probe/", env!("CARGO_PKG_VERSION")));
    config.set_timeout(timeout);
    config.set_connect_timeout(timeout);
    if let Some(ca) = ca_file {
        config.add_ca_file(ca);
    }
    config.build().map_err(|e| Stop::from_error(url, &e))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{Edge, Stack};

    #[test]
    fn options_under_which_no_outage_could_be_seen_are_refused() {
        let ok = ProbeOptions::default();
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.stated_detection(), Duration::from_secs(4));
        let none = ProbeOptions {
            dead_after: 0,
            ..ProbeOptions::default()
        };
        assert!(none.validate().is_err());
        let short = ProbeOptions {
            duration: Duration::from_secs(3),
            ..ProbeOptions::default()
        };
        assert!(short.validate().unwrap_err().contains("--for"));
    }

    #[test]
    fn the_edge_and_each_service_url_are_probed_once() {
        let mut stack = Stack {
            host: "meridian.tail".into(),
            edge: Some(Edge {
                url: "https://ingest.example".into(),
                dsn: None,
                ca_file: None,
            }),
            ..Stack::default()
        };
        stack.grafana.url = Some("http://meridian.tail:3100".into());
        let ctx = Context::new(stack, Default::default());
        let names: Vec<(String, String)> =
            targets(&ctx).into_iter().map(|t| (t.name, t.url)).collect();
        let expect = [
            ("edge", "https://ingest.example"),
            ("loki", "http://meridian.tail:3100"),
            ("prometheus", "http://meridian.tail:9090"),
            ("glitchtip", "http://meridian.tail:8200"),
        ];
        for (i, (n, u)) in expect.iter().enumerate() {
            assert_eq!(
                (names[i].0.as_str(), names[i].1.as_str()),
                (*n, *u),
                "{names:?}"
            );
        }
        assert!(!names.iter().any(|(n, _)| n == "grafana"), "{names:?}");
        assert_eq!(names.last().map(|(n, _)| n.as_str()), Some("alloy"));
    }
}
