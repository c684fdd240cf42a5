//! `scrape-targets-up`: every scrape job the stack promises (be-platform, node-exporter, Alloy's
//! self-metrics) has targets that are `up` and were scraped recently.
//!
//! Two views must agree: `/api/v1/targets` (health, last error, last scrape time) and the `up`
//! series a query returns, because a target page can look healthy while its samples never reach
//! the TSDB (a relabelling that drops `up`, a clock far off).
//!
//! Every declared job is required (`job NAME: …` checks), so a job that is never looked at cannot
//! pass, and a description that declares no job asserts nothing and is never a pass.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use telltale_prometheus::api::{Health, QueryData};
use telltale_prometheus::{QueryOptions, TargetState};

use super::{Context, Outcome, Stop};

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let url = ctx.prometheus_url();
    let prom = ctx.prometheus()?;
    let jobs = &ctx.stack.scrape.jobs;
    let required: Vec<String> = jobs.iter().map(|j| format!("job {j}")).collect();
    out.requires(&required.iter().map(String::as_str).collect::<Vec<_>>());
    let max_age = Duration::from_secs(ctx.stack.scrape.max_age_secs.into());
    // A Prometheus that just started has not discovered or scraped its targets yet: wait, at
    // most one scrape age, until every job has targets that were scraped at least once.
    let patience = max_age.min(ctx.options.deadline);
    let started = std::time::Instant::now();
    let targets = loop {
        let targets = prom
            .targets(TargetState::Active)
            .await
            .map_err(|e| Stop::from_error(&url, &e))?;
        let settled = jobs.iter().all(|job| {
            let mine: Vec<_> = targets
                .active_targets
                .iter()
                .filter(|t| t.labels.get("job").unwrap_or(&t.scrape_pool) == job)
                .collect();
            // VictoriaMetrics lists a target it has not scraped yet as `down` with a
            // `lastScrape` at the Unix epoch, where Prometheus says `unknown`.
            !mine.is_empty()
                && mine.iter().all(|t| {
                    t.health != Health::Unknown && !t.last_scrape.starts_with("1970-01-01")
                })
        });
        if settled || started.elapsed() >= patience {
            break targets;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    out.evidence.record(
        "waited_for_first_scrape_ms",
        started.elapsed().as_millis() as u64,
    );
    let now = SystemTime::now();
    let mut seen: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for t in &targets.active_targets {
        let job = t.labels.get("job").unwrap_or(&t.scrape_pool).clone();
        seen.entry(job).or_default().push(serde_json::json!({
            "url": t.scrape_url,
            "health": format!("{:?}", t.health).to_lowercase(),
            "last_error": t.last_error,
            "last_scrape": t.last_scrape,
        }));
    }
    out.evidence.record("targets", &seen);
    out.evidence.push(
        "queries",
        serde_json::json!({"endpoint": url, "path": "/api/v1/targets?state=active"}),
    );

    // A store may show a scrape on its target page before the `up` sample is queryable
    // (VictoriaMetrics flushes ingested samples about a second later): ask again, within the
    // same patience, until every job with targets has an `up` series.
    let with_targets: Vec<&String> = jobs
        .iter()
        .filter(|job| {
            targets
                .active_targets
                .iter()
                .any(|t| t.labels.get("job").unwrap_or(&t.scrape_pool) == *job)
        })
        .collect();
    let up_by_job = loop {
        let up = prom
            .query("up", None, &QueryOptions::default())
            .await
            .map_err(|e| Stop::from_error(&url, &e))?;
        let mut up_by_job: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        if let QueryData::Vector(series) = &up.data {
            for s in series {
                if let (Some(job), Some(sample)) = (s.metric.get("job"), s.sample) {
                    up_by_job.entry(job.clone()).or_default().push(sample.value);
                }
            }
        }
        if with_targets.iter().all(|j| up_by_job.contains_key(*j)) || started.elapsed() >= patience
        {
            break up_by_job;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    out.evidence.push(
        "queries",
        serde_json::json!({"endpoint": url, "query": "up"}),
    );
    out.evidence.record("up", &up_by_job);

    for job in jobs {
        let mine: Vec<_> = targets
            .active_targets
            .iter()
            .filter(|t| t.labels.get("job").unwrap_or(&t.scrape_pool) == job)
            .collect();
        if !out.check(
            format!("job {job}: has targets"),
            !mine.is_empty(),
            "at least 1 active target",
            format!(
                "{} (jobs present: {})",
                mine.len(),
                seen.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ) {
            continue;
        }
        for t in mine {
            let health = format!("{:?}", t.health).to_lowercase();
            let actual = if t.last_error.is_empty() {
                health.clone()
            } else {
                format!("{health}: {}", t.last_error)
            };
            out.check(
                format!("job {job}: target {} is up", t.scrape_url),
                t.health == Health::Up,
                "up",
                actual,
            );
            let age = telltale_glitchtip::parse_rfc3339(&t.last_scrape)
                .and_then(|at| now.duration_since(at).ok());
            out.check(
                format!("job {job}: target {} scraped recently", t.scrape_url),
                age.is_some_and(|a| a <= max_age),
                format!("last scrape within {}s", max_age.as_secs()),
                match age {
                    Some(a) => format!("{}s ago", a.as_secs()),
                    None => format!("unreadable last scrape time {:?}", t.last_scrape),
                },
            );
        }
        let values = up_by_job.get(job).cloned().unwrap_or_default();
        out.check(
            format!("job {job}: up{{job=\"{job}\"}} is 1"),
            !values.is_empty() && values.iter().all(|v| *v == 1.0),
            "every series 1",
            format!("{values:?}"),
        );
    }
    Ok(())
}
