//! `grafana`: the Loki and Prometheus datasources are provisioned (read-only in the API, so not
//! made in the UI) and healthy, anonymous access is refused, and the operator user exists.
//!
//! Every one of those is declared with [`Outcome::requires`]. `/api/health` and the status of the
//! admin's datasource list are only the way to the checks (evidence, never checks), and an
//! answer that refuses telltale's own credential is an `error` naming it, never a failed check
//! of the stack. No Grafana runs where CI runs: `tests/check_grafana_fake.rs` proves this logic
//! against an in-process fake, and the NixOS VM tests against a real Grafana.
//!
//! Grafana HTTP API: `GET /api/health`, `GET /api/datasources` (`readOnly` is true for
//! provisioned datasources), `GET /api/datasources/uid/<uid>/health` (Grafana 9 and later), and
//! `GET /api/users/lookup?loginOrEmail=` (server admin).

use serde::Deserialize;
use telltale_http::Method;

use super::{Context, Outcome, Stop};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Datasource {
    uid: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    read_only: bool,
}

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let url = ctx.grafana_url();
    let anonymous = ctx.http(&url, None)?;
    let get = |http: &telltale_http::Http, path: String| {
        let http = http.clone();
        async move {
            http.exchange(Method::Get, &path, &[], None, &[])
                .await
                .map_err(|e| {
                    Stop::from_error(
                        &format!("{}{path}", http.base_url().trim_end_matches('/')),
                        &e,
                    )
                })
        }
    };

    let operator = ctx.stack.grafana.operator_user.clone();
    let user_check = format!("user {operator}");
    out.requires(&[
        "anonymous GET /api/org",
        "anonymous GET /api/datasources",
        "anonymous GET /api/search",
        "a loki datasource",
        "a prometheus datasource",
        &user_check,
    ]);

    let health = get(&anonymous, "/api/health".into()).await?;
    out.evidence.record(
        "health",
        serde_json::json!({"status": health.status, "body": String::from_utf8_lossy(&health.body).trim()}),
    );

    // Anonymous access off means the API answers 401 to a request without credentials. Not 403:
    // an anonymous Viewer gets 403 on the datasource list, which is anonymous access let in.
    for path in ["/api/org", "/api/datasources", "/api/search"] {
        let answer = get(&anonymous, path.into()).await?;
        out.check(
            format!("anonymous GET {path} refused"),
            answer.status == 401,
            401,
            answer.status,
        );
    }

    let Some(auth) = ctx.grafana_auth()? else {
        return Err(Stop::unavailable(
            &url,
            "no Grafana credential is configured, so datasources and users cannot be checked",
            "set `[grafana] admin_password = { file = \"/run/secrets/grafana-admin\" }` or a service-account token in `[grafana] auth`",
        ));
    };
    let admin = ctx.http(&url, Some(auth))?;

    let answer = get(&admin, "/api/datasources".into()).await?;
    refused_credential(&url, "/api/datasources", answer.status)?;
    out.evidence
        .record("datasources_status", serde_json::json!(answer.status));
    if answer.status != 200 {
        return Err(Stop::failed(
            &format!("{url}/api/datasources"),
            format!(
                "Grafana answered {} to the admin's datasource list",
                answer.status
            ),
            "see Grafana's log",
        ));
    }
    let datasources: Vec<Datasource> = serde_json::from_slice(&answer.body).map_err(|e| {
        Stop::failed(
            &format!("{url}/api/datasources"),
            format!("not a datasource list: {e}"),
            "is this Grafana 11?",
        )
    })?;
    out.evidence.record(
        "datasources",
        datasources
            .iter()
            .map(|d| {
                serde_json::json!({"uid": d.uid, "name": d.name, "type": d.kind, "url": d.url, "readOnly": d.read_only})
            })
            .collect::<Vec<_>>(),
    );
    for kind in ["loki", "prometheus"] {
        let found: Vec<&Datasource> = datasources.iter().filter(|d| d.kind == kind).collect();
        if !out.check(
            format!("a {kind} datasource exists"),
            !found.is_empty(),
            "1 or more",
            found.len(),
        ) {
            continue;
        }
        for d in found {
            out.check(
                format!("datasource {} is provisioned", d.name),
                d.read_only,
                "readOnly: true (from provisioning, not the UI)",
                format!("readOnly: {}", d.read_only),
            );
            let path = format!("/api/datasources/uid/{}/health", d.uid);
            let health = get(&admin, path.clone()).await?;
            refused_credential(&url, &path, health.status)?;
            let body = String::from_utf8_lossy(&health.body).into_owned();
            let status = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_owned))
                .unwrap_or_default();
            out.evidence.push(
                "health_checks",
                serde_json::json!({"path": path, "status": health.status, "body": body}),
            );
            out.check(
                format!("datasource {} is healthy", d.name),
                health.status == 200 && status == "OK",
                "200 with status OK",
                format!(
                    "{} {}",
                    health.status,
                    body.chars().take(200).collect::<String>()
                ),
            );
        }
    }

    let lookup = admin
        .exchange(
            Method::Get,
            "/api/users/lookup",
            &[("loginOrEmail", operator.clone())],
            None,
            &[],
        )
        .await
        .map_err(|e| Stop::from_error(&format!("{url}/api/users/lookup"), &e))?;
    refused_credential(&url, "/api/users/lookup", lookup.status)?;
    let found = serde_json::from_slice::<serde_json::Value>(&lookup.body).ok();
    let login = found
        .as_ref()
        .and_then(|v| v.get("login"))
        .and_then(|l| l.as_str())
        .unwrap_or_default()
        .to_owned();
    let email = found
        .as_ref()
        .and_then(|v| v.get("email"))
        .and_then(|l| l.as_str())
        .unwrap_or_default()
        .to_owned();
    out.check(
        format!("{user_check} exists"),
        lookup.status == 200 && (login == operator || email == operator),
        format!("200 with login {operator}"),
        if lookup.status == 200 {
            format!("200 with login {login:?}")
        } else {
            format!(
                "{} {}",
                lookup.status,
                String::from_utf8_lossy(&lookup.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )
        },
    );
    Ok(())
}

/// Grafana refusing the stack description's credential is the harness's setting to fix, not a
/// finding about the stack.
fn refused_credential(url: &str, path: &str, status: u16) -> Result<(), Stop> {
    if status == 401 || status == 403 {
        return Err(Stop::error(
            &format!("{url}{path}"),
            format!("Grafana refused the configured credential ({status})"),
            "check the admin password file or token named in the stack description (it needs the server admin role)",
        ));
    }
    Ok(())
}
