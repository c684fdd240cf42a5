//! `retention`: each store keeps data as long as the stack description declares, and no longer.
//!
//! - Loki: `/config` must show `limits_config.retention_period` equal to the declared days *and*
//!   `compactor.retention_enabled: true`, because without the compactor's retention the period is
//!   silently not enforced (Loki docs, "Log retention").
//! - Prometheus: the `storage.tsdb.retention.time` flag (or `runtimeinfo`'s retention).
//! - GlitchTip: its API does not expose retention, so the scenario reads
//!   `GLITCHTIP_MAX_EVENT_LIFE_DAYS` from the settings unit as systemd would give it to the
//!   service (`Environment=`, then every `EnvironmentFile=`; see `unit_env.rs`); GlitchTip's
//!   default is 90 days (`glitchtip/settings.py`).
//!
//! Every part is checked whatever another part answered: one unreachable store must not hide a
//! misconfigured one, and a part that could not be checked keeps the scenario from passing
//! (each part's check is declared with [`Outcome::requires`]).

use std::time::Duration;

use super::parts::{merge, named};
use super::unit_env::{self, FileError, ShowError};
use super::{Context, Outcome, Stop};

const DAY: u64 = 86_400;

/// GlitchTip's own default for `GLITCHTIP_MAX_EVENT_LIFE_DAYS` (`glitchtip/settings.py`).
const GLITCHTIP_DEFAULT_DAYS: u32 = 90;

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    out.requires(&[
        "loki retention",
        "prometheus retention",
        "glitchtip retention",
    ]);
    merge([
        loki(ctx, out).await.err().map(|s| named("loki", s)),
        prometheus(ctx, out)
            .await
            .err()
            .map(|s| named("prometheus", s)),
        glitchtip(ctx, out).err().map(|s| named("glitchtip", s)),
    ])
}

async fn loki(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let declared = ctx.stack.retention.loki_days;
    let url = ctx.loki_url();
    let config = ctx
        .loki()?
        .server_config()
        .await
        .map_err(|e| Stop::from_error(&url, &e))?;
    out.evidence.record(
        "loki",
        serde_json::json!({
            "endpoint": format!("{url}/config"),
            "retention_period_secs": config.retention_period.as_secs(),
            "compactor_retention_enabled": config.compactor_retention_enabled,
            "delete_request_store": config.delete_request_store,
            "retention_streams": config.retention_streams.iter().map(|r| serde_json::json!({
                "selector": r.selector, "period_secs": r.period.as_secs()})).collect::<Vec<_>>(),
        }),
    );
    out.check(
        "loki retention: limits_config.retention_period",
        config.retention_period == days(declared),
        format!("{declared}d"),
        human(config.retention_period),
    );
    out.check(
        "loki retention: compactor.retention_enabled",
        config.compactor_retention_enabled,
        "true (else the period is not enforced)",
        config.compactor_retention_enabled,
    );
    // A shorter per-stream rule is a choice; a longer one breaks the promise.
    for rule in &config.retention_streams {
        out.check(
            format!("loki retention: retention_stream {}", rule.selector),
            rule.period <= days(declared),
            format!("at most {declared}d"),
            human(rule.period),
        );
    }
    Ok(())
}

async fn prometheus(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let declared = ctx.stack.retention.prometheus_days;
    let url = ctx.prometheus_url();
    let retention = ctx
        .prometheus()?
        .retention()
        .await
        .map_err(|e| Stop::from_error(&url, &e))?;
    out.evidence.record(
        "prometheus",
        serde_json::json!({
            "endpoint": format!("{url}/api/v1/status/flags"),
            "retention_secs": retention.map(|d| d.as_secs()),
        }),
    );
    out.check(
        "prometheus retention: storage.tsdb.retention.time",
        retention == Some(days(declared)),
        format!("{declared}d"),
        retention.map_or("unset (Prometheus keeps 15d by default)".into(), human),
    );
    Ok(())
}

fn glitchtip(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let declared = ctx.stack.retention.glitchtip_days;
    let Some(unit) = &ctx.stack.glitchtip.settings_unit else {
        return Err(Stop::unavailable(
            &ctx.glitchtip_url(),
            "GlitchTip's API does not expose its event retention, and no settings unit is configured",
            "set `[glitchtip] settings_unit = \"glitchtip.service\"` and run telltale on the GlitchTip host",
        ));
    };
    let show = unit_env::show(unit).map_err(|e| match e {
        ShowError::Systemctl(message) => Stop::unavailable(
            unit,
            message,
            format!(
                "run telltale on the GlitchTip host, where `systemctl show {unit}` works (or set {} to the systemctl command to use)",
                unit_env::SYSTEMCTL_VAR
            ),
        ),
        ShowError::Output(message) => Stop::error(
            unit,
            message,
            "this systemctl answers in a form telltale does not know; please report it",
        ),
    })?;
    let mut evidence = serde_json::json!({
        "unit": unit,
        "load_state": show.load_state,
        "fragment_path": show.fragment_path,
        "environment_files": show.environment_files.iter().map(|f| serde_json::json!({
            "path": f.pattern, "optional": f.optional})).collect::<Vec<_>>(),
    });
    match show.load_state.as_str() {
        "loaded" => {}
        "not-found" => {
            out.evidence.record("glitchtip", &evidence);
            return Err(Stop::unavailable(
                unit,
                format!(
                    "systemd has no unit {unit} here ({})",
                    show.load_error.as_deref().unwrap_or("LoadState=not-found")
                ),
                "run telltale on the GlitchTip host, or fix `[glitchtip] settings_unit` in the stack description",
            ));
        }
        // Masked, or a unit file systemd could not read: the service cannot run as declared.
        other => {
            out.evidence.record("glitchtip", &evidence);
            out.check(
                format!("glitchtip retention: {unit} is loaded"),
                false,
                "LoadState=loaded",
                format!(
                    "LoadState={other}{}",
                    show.load_error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ),
            );
            return Ok(());
        }
    }
    let days_found = |name: &str| -> Result<unit_env::Lookup, Stop> {
        unit_env::lookup(&show, name).map_err(|e| match e {
            FileError::Missing(path) => Stop::failed(
                unit,
                format!("{unit} names EnvironmentFile={path}, which does not exist, so systemd will not start it"),
                "create the file, or prefix its name with `-` in the unit if it is optional",
            ),
            FileError::Unreadable(path, why) => Stop::error(
                unit,
                format!("cannot read {unit}'s EnvironmentFile {path}: {why}"),
                "run telltale as a user that may read the unit's environment files (root on the GlitchTip host)",
            ),
        })
    };
    let events = days_found("GLITCHTIP_MAX_EVENT_LIFE_DAYS")?;
    let transactions = days_found("GLITCHTIP_MAX_TRANSACTION_EVENT_LIFE_DAYS")?;
    evidence["environment_files_read"] = serde_json::json!(events
        .files_read
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>());
    evidence["environment_files_skipped"] = serde_json::json!(events.files_skipped);
    // Only these variables are recorded: the same files hold GlitchTip's secrets.
    for (name, found) in [
        ("GLITCHTIP_MAX_EVENT_LIFE_DAYS", &events),
        ("GLITCHTIP_MAX_TRANSACTION_EVENT_LIFE_DAYS", &transactions),
    ] {
        evidence[name] = serde_json::json!({"value": found.value, "from": found.source});
    }
    out.evidence.record("glitchtip", &evidence);

    let (event_days, shown) = effective(&events, None);
    out.check(
        "glitchtip retention: GLITCHTIP_MAX_EVENT_LIFE_DAYS",
        event_days == Some(declared),
        declared,
        shown,
    );
    // Transactions default to the event lifetime; set longer, they outlive the promise.
    if transactions.value.is_some() {
        let (tx_days, shown) = effective(&transactions, event_days);
        out.check(
            "glitchtip retention: GLITCHTIP_MAX_TRANSACTION_EVENT_LIFE_DAYS",
            tx_days.is_some_and(|d| d <= declared),
            format!("at most {declared}"),
            shown,
        );
    }
    Ok(())
}

/// The days a GlitchTip setting amounts to (`None` when it is not a number, which GlitchTip's
/// `env.int` refuses), and how to show it.
fn effective(found: &unit_env::Lookup, default: Option<u32>) -> (Option<u32>, String) {
    match (&found.value, &found.source) {
        (Some(v), Some(source)) => {
            let parsed = v.trim().parse::<u32>().ok();
            let shown = match parsed {
                Some(d) => format!("{d} (from {source})"),
                None => format!("{v:?}, not a whole number (from {source})"),
            };
            (parsed, shown)
        }
        _ => {
            let d = default.unwrap_or(GLITCHTIP_DEFAULT_DAYS);
            (Some(d), format!("{d} (unset: GlitchTip's default)"))
        }
    }
}

fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * DAY)
}

fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        "0s (never deleted)".into()
    } else if secs.is_multiple_of(DAY) {
        format!("{}d", secs / DAY)
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_days_when_whole() {
        assert_eq!(human(days(30)), "30d");
        assert_eq!(human(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_secs(61)), "61s");
        assert_eq!(human(Duration::ZERO), "0s (never deleted)");
    }

    #[test]
    fn glitchtip_days_default_and_refuse_what_glitchtip_refuses() {
        let unset = unit_env::Lookup::default();
        assert_eq!(effective(&unset, None).0, Some(90));
        assert_eq!(effective(&unset, Some(30)).0, Some(30));
        let set = |v: &str| unit_env::Lookup {
            value: Some(v.into()),
            source: Some("Environment=".into()),
            ..Default::default()
        };
        assert_eq!(effective(&set(" 30 "), None).0, Some(30));
        let (days, shown) = effective(&set("thirty"), None);
        assert_eq!(days, None);
        assert!(shown.contains("not a whole number"), "{shown}");
    }
}
