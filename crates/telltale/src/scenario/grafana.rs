//! `grafana`: the Loki and Prometheus datasources are provisioned (read-only in the API, so not
//! made in the UI) and healthy, anonymous access is refused, and the operator user exists.
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

    let health = get(&anonymous, "/api/health".into()).await?;
    out.evidence
        .record("health", String::from_utf8_lossy(&health.body).trim());
    out.expect_eq("GET /api/health status", 200, health.status);

    // Anonymous access off means the API answers 401 to a request without credentials.
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
    if answer.status == 401 || answer.status == 403 {
        return Err(Stop::error(
            &format!("{url}/api/datasources"),
            format!(
                "Grafana refused the configured credential ({})",
                answer.status
            ),
            "check the admin password file or token named in the stack description",
        ));
    }
    out.expect_eq("GET /api/datasources status", 200, answer.status);
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

    let operator = &ctx.stack.grafana.operator_user;
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
    out.check(
        format!("user {operator} exists"),
        lookup.status == 200,
        200,
        lookup.status,
    );
    Ok(())
}
