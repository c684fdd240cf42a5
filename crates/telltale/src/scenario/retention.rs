//! `retention`: each store keeps data as long as the stack description declares, and no longer.
//!
//! - Loki: `/config` must show `limits_config.retention_period` equal to the declared days *and*
//!   `compactor.retention_enabled: true`, because without the compactor's retention the period is
//!   silently not enforced (Loki docs, "Log retention").
//! - Prometheus: the `storage.tsdb.retention.time` flag (or `runtimeinfo`'s retention).
//! - GlitchTip: its API does not expose retention, so the scenario reads
//!   `GLITCHTIP_MAX_EVENT_LIFE_DAYS` from the settings unit's environment with `systemctl show`
//!   when the stack names that unit; GlitchTip's default is 90 days (`glitchtip/settings.py`).

use std::time::Duration;

use super::{Context, Outcome, Stop};

const DAY: u64 = 86_400;

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let declared = ctx.stack.retention;
    let mut unavailable: Vec<Stop> = Vec::new();

    let loki_url = ctx.loki_url();
    match ctx.loki()?.server_config().await {
        Ok(config) => {
            out.evidence.record(
                "loki",
                serde_json::json!({
                    "endpoint": format!("{loki_url}/config"),
                    "retention_period_secs": config.retention_period.as_secs(),
                    "compactor_retention_enabled": config.compactor_retention_enabled,
                    "delete_request_store": config.delete_request_store,
                    "retention_streams": config.retention_streams.iter().map(|r| serde_json::json!({
                        "selector": r.selector, "period_secs": r.period.as_secs()})).collect::<Vec<_>>(),
                }),
            );
            out.check(
                "loki retention_period",
                config.retention_period == days(declared.loki_days),
                format!("{}d", declared.loki_days),
                human(config.retention_period),
            );
            out.check(
                "loki compactor enforces retention",
                config.compactor_retention_enabled,
                "compactor.retention_enabled: true",
                config.compactor_retention_enabled,
            );
            // A shorter per-stream rule is a choice; a longer one breaks the promise.
            for rule in &config.retention_streams {
                out.check(
                    format!("loki retention_stream {}", rule.selector),
                    rule.period <= days(declared.loki_days),
                    format!("at most {}d", declared.loki_days),
                    human(rule.period),
                );
            }
        }
        Err(e) => {
            let stop = Stop::from_error(&loki_url, &e);
            if stop.status != crate::report::Status::Unavailable {
                return Err(stop);
            }
            unavailable.push(stop);
        }
    }

    let prom_url = ctx.prometheus_url();
    match ctx.prometheus()?.retention().await {
        Ok(retention) => {
            out.evidence.record(
                "prometheus",
                serde_json::json!({
                    "endpoint": format!("{prom_url}/api/v1/status/flags"),
                    "retention_secs": retention.map(|d| d.as_secs()),
                }),
            );
            out.check(
                "prometheus storage.tsdb.retention.time",
                retention == Some(days(declared.prometheus_days)),
                format!("{}d", declared.prometheus_days),
                retention.map_or("unset (Prometheus keeps 15d by default)".into(), human),
            );
        }
        Err(e) => {
            let stop = Stop::from_error(&prom_url, &e);
            if stop.status != crate::report::Status::Unavailable {
                return Err(stop);
            }
            unavailable.push(stop);
        }
    }

    match &ctx.stack.glitchtip.settings_unit {
        Some(unit) => match unit_environment(unit) {
            Ok(env) => {
                let value = env
                    .iter()
                    .find(|(k, _)| k == "GLITCHTIP_MAX_EVENT_LIFE_DAYS")
                    .map(|(_, v)| v.clone());
                out.evidence.record(
                    "glitchtip",
                    serde_json::json!({"unit": unit, "GLITCHTIP_MAX_EVENT_LIFE_DAYS": value}),
                );
                let effective = value.as_deref().unwrap_or("90");
                out.check(
                    "glitchtip GLITCHTIP_MAX_EVENT_LIFE_DAYS",
                    effective.trim() == declared.glitchtip_days.to_string(),
                    declared.glitchtip_days,
                    match &value {
                        Some(v) => v.clone(),
                        None => "90 (unset: GlitchTip's default)".into(),
                    },
                );
            }
            Err(message) => unavailable.push(Stop::unavailable(
                unit,
                message,
                "run telltale on the GlitchTip host, where `systemctl show` can read the unit",
            )),
        },
        None => unavailable.push(Stop::unavailable(
            &ctx.glitchtip_url(),
            "GlitchTip's API does not expose its event retention, and no settings unit is configured",
            "set `[glitchtip] settings_unit = \"glitchtip.service\"` and run telltale on the GlitchTip host",
        )),
    }

    // Whatever could be checked is in `out`; a part that could not be reached keeps the
    // scenario from passing.
    match unavailable.into_iter().next() {
        Some(stop) => Err(stop),
        None => Ok(()),
    }
}

fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * DAY)
}

fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(DAY) {
        format!("{}d", secs / DAY)
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else {
        format!("{secs}s")
    }
}

/// A unit's `Environment=` as `systemctl show` prints it.
fn unit_environment(unit: &str) -> Result<Vec<(String, String)>, String> {
    let output = std::process::Command::new("systemctl")
        .args(["show", "--property=Environment", "--value", "--", unit])
        .output()
        .map_err(|e| format!("run systemctl show {unit}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "systemctl show {unit} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(parse_environment(&String::from_utf8_lossy(&output.stdout)))
}

/// Splits `A=1 "B=two words" C=3`, systemd's quoting of `Environment=`.
fn parse_environment(text: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.trim().chars();
    while let Some(ch) = chars.next() {
        match (ch, quote) {
            ('\\', _) => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ('"' | '\'', None) => quote = Some(ch),
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() => {
                if !current.is_empty() {
                    items.push(std::mem::take(&mut current));
                }
            }
            (c, _) => current.push(c),
        }
    }
    if !current.is_empty() {
        items.push(current);
    }
    items
        .into_iter()
        .filter_map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_environment_quoting_is_split() {
        let env = parse_environment(
            "GLITCHTIP_MAX_EVENT_LIFE_DAYS=90 \"GLITCHTIP_DOMAIN=http://a b\" X=1\n",
        );
        assert_eq!(
            env,
            vec![
                ("GLITCHTIP_MAX_EVENT_LIFE_DAYS".into(), "90".into()),
                ("GLITCHTIP_DOMAIN".into(), "http://a b".into()),
                ("X".into(), "1".into())
            ]
        );
        assert!(parse_environment("").is_empty());
    }

    #[test]
    fn durations_read_in_days_when_whole() {
        assert_eq!(human(days(30)), "30d");
        assert_eq!(human(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_secs(61)), "61s");
    }
}
