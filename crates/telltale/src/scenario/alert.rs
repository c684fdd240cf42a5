//! `alert-delivery`: a canary alert rule is made to fire on purpose, and the notification must
//! reach a webhook receiver telltale runs, through the real Alertmanager, exactly once for its
//! group, with the declared labels and annotations, and then resolve when the series returns to
//! normal.
//!
//! The scenario writes `<metric>{run="<run id>"} 1` to Prometheus by remote-write every second
//! (the breach), and 0 once the firing notification arrived (the recovery). Each layer is asked
//! what it saw, so a failure names the broken link: Prometheus's `/api/v1/alerts` (the rule),
//! Alertmanager's `/api/v2/alerts` with the receivers its routing tree chose (the route), and the
//! webhook itself (the receiver). A 2xx from remote-write is evidence; a refusal is a failed
//! check. Latency from breach to notification, and from recovery to the resolved notification,
//! is reported in the evidence and the summary.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;
use telltale_http::Method;
use telltale_prometheus::WriteSeries;

use super::{Context, Outcome, Stop};
use crate::stack::Alertmanager;
use crate::webhook::Receiver;

/// A notification as Alertmanager's webhook integration posts it (version 4).
#[derive(Debug, Clone, Deserialize)]
struct Notification {
    status: String,
    #[serde(default)]
    receiver: String,
    #[serde(default, rename = "groupKey")]
    group_key: String,
    #[serde(default)]
    alerts: Vec<NotifiedAlert>,
}

#[derive(Debug, Clone, Deserialize)]
struct NotifiedAlert {
    #[serde(default)]
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// One POST the webhook received.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    path: String,
    notification: Result<Notification, String>,
}

/// What the webhook received, each body read as Alertmanager's notification.
fn received(hook: &Receiver) -> Vec<Received> {
    hook.posts()
        .into_iter()
        .map(|p| Received {
            at: p.at,
            path: p.path,
            notification: serde_json::from_slice::<Notification>(&p.body).map_err(|e| {
                format!(
                    "{e} (body starts {:?})",
                    String::from_utf8_lossy(&p.body[..p.body.len().min(80)])
                )
            }),
        })
        .collect()
}

/// An alert as Alertmanager's API v2 lists it.
#[derive(Debug, Deserialize)]
struct HeldAlert {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    receivers: Vec<ReceiverName>,
}

#[derive(Debug, Deserialize)]
struct AlertmanagersAnswer {
    data: AlertmanagersData,
}

#[derive(Debug, Deserialize)]
struct AlertmanagersData {
    #[serde(default, rename = "activeAlertmanagers")]
    active_alertmanagers: Vec<AlertmanagerUrl>,
}

#[derive(Debug, Deserialize)]
struct AlertmanagerUrl {
    url: String,
}

#[derive(Debug, Deserialize)]
struct ReceiverName {
    name: String,
}

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let Some(am) = ctx.stack.alertmanager.clone() else {
        return Err(Stop::unavailable(
            "alertmanager",
            "the stack description has no [alertmanager] section",
            "add `[alertmanager]` (docs/stack.example.toml) once the deployment runs Alertmanager with the telltale canary rule and route",
        ));
    };
    let run = ctx.run_id.clone();
    let am_url = am.base_url(&ctx.stack.host);
    let am_http = ctx.http(&am_url, ctx.auth("alertmanager.auth", &am.auth)?)?;
    let prom_url = ctx.prometheus_url();
    let prom = ctx.prometheus()?;
    let firing_check = format!(
        "webhook: one firing notification for the {} group",
        am.alert_name
    );
    let resolved_check = format!(
        "webhook: one resolved notification for the {} group",
        am.alert_name
    );
    out.requires(&[
        "prometheus: alert",
        "alertmanager: alert",
        &firing_check,
        &resolved_check,
    ]);

    // Alertmanager first: a part that does not answer is unavailable before anything is sent.
    let ready = am_http
        .exchange(Method::Get, "/-/ready", &[], None, &[])
        .await
        .map_err(|e| Stop::from_error(&am_url, &e))?;
    out.evidence
        .record("alertmanager_ready_status", ready.status);

    // Prometheus must know an Alertmanager to send to; the address it uses may differ from
    // ours (a name, another interface), so any active one counts, and the list is evidence.
    let prom_http = ctx.http(
        &prom_url,
        ctx.auth("prometheus.auth", &ctx.stack.prometheus.auth)?,
    )?;
    let answer = prom_http
        .exchange(Method::Get, "/api/v1/alertmanagers", &[], None, &[])
        .await
        .map_err(|e| Stop::from_error(&prom_url, &e))?;
    let active: Vec<String> = serde_json::from_slice::<AlertmanagersAnswer>(&answer.body)
        .map(|a| {
            a.data
                .active_alertmanagers
                .into_iter()
                .map(|a| a.url)
                .collect()
        })
        .map_err(|e| {
            Stop::failed(
                &prom_url,
                format!(
                    "GET /api/v1/alertmanagers answered {} and not Prometheus's list: {e}",
                    answer.status
                ),
                "is the [prometheus] address Prometheus's?",
            )
        })?;
    out.evidence.record("prometheus_alertmanagers", &active);
    out.check(
        "prometheus: sends alerts to an Alertmanager",
        !active.is_empty(),
        "at least one active Alertmanager",
        if active.is_empty() {
            "none".to_owned()
        } else {
            active.join(", ")
        },
    );

    let hook = serve(&am).await?;
    out.evidence.record(
        "sent",
        json!({
            "series": format!("{}{{run=\"{run}\"}}", am.metric),
            "via": format!("{prom_url}{}", am.remote_write_path),
            "webhook": am.webhook_listen,
        }),
    );

    let deadline = ctx.options.deadline;
    let poll = Duration::from_millis(250);
    let push = |value: f64| {
        let series = WriteSeries::new(&am.metric, [("run", run.as_str())]).sample(now_ms(), value);
        let prom = prom.clone();
        let path = am.remote_write_path.clone();
        async move { prom.remote_write(&path, &[series]).await }
    };

    // The breach: the series above 0 until the firing notification arrives.
    let breach = Instant::now();
    let mut prom_firing: Option<Duration> = None;
    let mut held: Option<(Duration, Vec<String>)> = None;
    let mut last_push: Option<Instant> = None;
    let mut firing_at: Option<Instant> = None;
    while breach.elapsed() < deadline {
        if last_push.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            if let Err(e) = push(1.0).await {
                let stop = Stop::from_error(&prom_url, &e);
                if stop.status == crate::report::Status::Failed {
                    out.check(
                        "prometheus: remote-write accepts the canary series",
                        false,
                        "2xx",
                        super::chain(&e),
                    );
                }
                drop(hook);
                return Err(stop);
            }
            last_push = Some(Instant::now());
        }
        if prom_firing.is_none() {
            let alerts = prom
                .alerts()
                .await
                .map_err(|e| Stop::from_error(&prom_url, &e))?;
            if alerts.iter().any(|a| {
                a.state == "firing"
                    && a.labels.get("alertname") == Some(&am.alert_name)
                    && a.labels.get("run") == Some(&run)
            }) {
                prom_firing = Some(breach.elapsed());
            }
        }
        if held.as_ref().is_none_or(|(_, r)| r.is_empty()) {
            if let Some(receivers) = held_by_alertmanager(&am_http, &am_url, &am, &run).await? {
                held = Some((breach.elapsed(), receivers));
            }
        }
        if let Some(at) = first(&received(&hook), &run, "firing") {
            firing_at = Some(at);
            break;
        }
        tokio::time::sleep(poll).await;
    }
    out.evidence.record(
        "remote_write",
        "every write of the canary series answered 2xx",
    );

    // The recovery: back to 0, whatever happened, so a broken path does not leave the canary
    // firing in the stack.
    let recovery = Instant::now();
    let mut resolved_at: Option<Instant> = None;
    let mut last_push: Option<Instant> = None;
    let patience = if firing_at.is_some() {
        deadline
    } else {
        Duration::ZERO
    };
    loop {
        if last_push.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            push(0.0)
                .await
                .map_err(|e| Stop::from_error(&prom_url, &e))?;
            last_push = Some(Instant::now());
        }
        if let Some(at) = first(&received(&hook), &run, "resolved") {
            resolved_at = Some(at);
            break;
        }
        if recovery.elapsed() >= patience {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    if firing_at.is_some() {
        // A second notification for the same group (a resend, a second route) comes late.
        tokio::time::sleep(ctx.options.settle).await;
    }
    let received = received(&hook);
    drop(hook);
    let mine: Vec<&Received> = received
        .iter()
        .filter(|r| r.notification.as_ref().is_ok_and(|n| carries_run(n, &run)))
        .collect();
    let malformed = received.iter().filter(|r| r.notification.is_err()).count();
    out.evidence.record(
        "notifications",
        received
            .iter()
            .map(|r| match &r.notification {
                Ok(n) => json!({
                    "after_breach_ms": millis(r.at.saturating_duration_since(breach)),
                    "path": r.path,
                    "status": n.status,
                    "receiver": n.receiver,
                    "group_key": n.group_key,
                    "alerts": n.alerts.iter().map(|a| json!({"status": a.status, "labels": a.labels, "annotations": a.annotations})).collect::<Vec<_>>(),
                }),
                Err(e) => json!({ "path": r.path, "malformed": e }),
            })
            .collect::<Vec<_>>(),
    );

    let alert = &am.alert_name;
    out.check(
        format!("prometheus: alert {alert} fires for the run"),
        prom_firing.is_some(),
        "firing",
        match prom_firing {
            Some(t) => format!("firing {} ms after the breach", millis(t)),
            None => format!("not firing within {} s", deadline.as_secs()),
        },
    );
    let routed = held
        .as_ref()
        .is_some_and(|(_, r)| r.iter().any(|n| n == &am.receiver));
    out.check(
        format!(
            "alertmanager: alert {alert} routed to receiver {}",
            am.receiver
        ),
        routed,
        format!("receivers [{}]", am.receiver),
        match &held {
            Some((_, r)) => format!("receivers [{}]", r.join(", ")),
            None => "Alertmanager never held the alert".into(),
        },
    );
    let count = |status: &str| {
        mine.iter()
            .filter(|r| r.notification.as_ref().is_ok_and(|n| n.status == status))
            .count()
    };
    out.expect_eq(&firing_check, 1, count("firing"));
    if malformed > 0 {
        out.check(
            "webhook: every notification is Alertmanager's JSON",
            false,
            0,
            malformed,
        );
    }
    let firing_alert = mine.iter().find_map(|r| {
        let n = r.notification.as_ref().ok()?;
        (n.status == "firing")
            .then(|| n.alerts.iter().find(|a| a.labels.get("run") == Some(&run)))
            .flatten()
    });
    if let Some(a) = firing_alert {
        let mut want = am.labels.clone();
        want.insert("alertname".into(), alert.clone());
        want.insert("run".into(), run.clone());
        let got: BTreeMap<String, String> = want
            .keys()
            .filter_map(|k| a.labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        out.check(
            "webhook: the alert carries the declared labels",
            got == want,
            pairs(&want),
            pairs(&got),
        );
        let want: BTreeMap<String, String> = am
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("{run}", &run)))
            .collect();
        let got: BTreeMap<String, String> = want
            .keys()
            .filter_map(|k| a.annotations.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        out.check(
            "webhook: the alert carries the declared annotations",
            got == want,
            pairs(&want),
            pairs(&got),
        );
        out.expect_eq(&resolved_check, 1, count("resolved"));
    }

    let breach_to_notification = firing_at.map(|t| t.saturating_duration_since(breach));
    let recovery_to_resolved = resolved_at.map(|t| t.saturating_duration_since(recovery));
    out.evidence.record(
        "latency_ms",
        json!({
            "breach_to_prometheus_firing": prom_firing.map(millis),
            "breach_to_alertmanager": held.as_ref().map(|(t, _)| millis(*t)),
            "breach_to_notification": breach_to_notification.map(millis),
            "recovery_to_resolved_notification": recovery_to_resolved.map(millis),
        }),
    );
    if let (Some(f), Some(r)) = (breach_to_notification, recovery_to_resolved) {
        out.summary(format!(
            "{alert} notified once {:.1} s after the breach, resolved {:.1} s after recovery",
            f.as_secs_f64(),
            r.as_secs_f64()
        ));
    }
    Ok(())
}

/// Starts the webhook receiver on the declared address; it answers 200 to any POST and keeps
/// what came.
async fn serve(am: &Alertmanager) -> Result<Receiver, Stop> {
    let addr: SocketAddr = am
        .webhook_listen
        .parse()
        .expect("the stack model validates webhook_listen");
    Receiver::bind(addr).await.map_err(|e| {
        Stop::error(
            "alertmanager.webhook_listen",
            format!("could not listen on {addr} for Alertmanager's webhook: {e}"),
            "free the port (another telltale run?) or change `webhook_listen` together with the route's webhook URL",
        )
    })
}

/// The receivers Alertmanager routed the run's canary alert to, or `None` while it holds none.
async fn held_by_alertmanager(
    http: &telltale_http::Http,
    url: &str,
    am: &Alertmanager,
    run: &str,
) -> Result<Option<Vec<String>>, Stop> {
    let answer = http
        .exchange(
            Method::Get,
            "/api/v2/alerts",
            &[
                ("filter", format!("alertname=\"{}\"", am.alert_name)),
                ("filter", format!("run=\"{run}\"")),
            ],
            None,
            &[],
        )
        .await
        .map_err(|e| Stop::from_error(url, &e))?;
    if !answer.is_success() {
        return Err(Stop::failed(
            url,
            format!(
                "GET /api/v2/alerts answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body).trim()
            ),
            "is this Alertmanager 0.16 or later, reached without a proxy that rewrites its API?",
        ));
    }
    let alerts: Vec<HeldAlert> = serde_json::from_slice(&answer.body).map_err(|e| {
        Stop::failed(
            url,
            format!("GET /api/v2/alerts is not Alertmanager's alert list: {e}"),
            "is the [alertmanager] address Alertmanager's?",
        )
    })?;
    let mut receivers: Vec<String> = alerts
        .iter()
        .filter(|a| a.labels.get("run").map(String::as_str) == Some(run))
        .flat_map(|a| a.receivers.iter().map(|r| r.name.clone()))
        .collect();
    receivers.sort();
    receivers.dedup();
    Ok((!alerts.is_empty()).then_some(receivers))
}

/// When the first notification with `status` for the run's group arrived.
fn first(received: &[Received], run: &str, status: &str) -> Option<Instant> {
    received
        .iter()
        .filter(|r| {
            r.notification
                .as_ref()
                .is_ok_and(|n| n.status == status && carries_run(n, run))
        })
        .map(|r| r.at)
        .min()
}

fn carries_run(n: &Notification, run: &str) -> bool {
    n.alerts
        .iter()
        .any(|a| a.labels.get("run").map(String::as_str) == Some(run))
}

fn pairs(map: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_are_told_apart_by_run_and_status() {
        let body = r#"{"version":"4","groupKey":"{}/{alertname=\"A\"}:{alertname=\"A\", run=\"tt-1\"}","status":"firing","receiver":"telltale",
            "groupLabels":{"alertname":"A","run":"tt-1"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://x","truncatedAlerts":0,
            "alerts":[{"status":"firing","labels":{"alertname":"A","run":"tt-1","severity":"info"},"annotations":{"summary":"s"},
            "startsAt":"2026-12-04T20:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://p","fingerprint":"f"}]}"#;
        let n: Notification = serde_json::from_str(body).unwrap();
        assert!(carries_run(&n, "tt-1"));
        assert!(!carries_run(&n, "tt-12"));
        let at = Instant::now();
        let inbox = vec![Received {
            at,
            path: "/".into(),
            notification: Ok(n),
        }];
        assert_eq!(first(&inbox, "tt-1", "firing"), Some(at));
        assert_eq!(first(&inbox, "tt-1", "resolved"), None);
        assert_eq!(first(&inbox, "tt-2", "firing"), None);
    }
}
