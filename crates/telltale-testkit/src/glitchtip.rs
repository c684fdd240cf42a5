//! GlitchTip's bootstrap: an API token made inside the web container (GlitchTip has no API
//! to make the first one), then `telltale-glitchtip`'s idempotent `ensure_stack` for the
//! DSNs, then a canary event that proves the worker consumes before a test relies on it.

use std::path::PathBuf;
use std::time::Duration;

use telltale_glitchtip::{Client, Dsn, Ingestor, NewEvent, NewProject, SendOptions, StackSpec};
use testcontainers::core::{CmdWaitFor, ExecCommand};

use crate::plan::{GlitchTipPlan, CANARY_PROJECT};
use crate::stack::TempDir;
use crate::start::Running;
use crate::Error;

/// How long the canary event may take to become visible: the worker's first start imports
/// its task modules before it consumes.
const CANARY_DEADLINE: Duration = Duration::from_secs(120);

/// A bootstrapped GlitchTip: an API client with a full-scope token, and a DSN per project.
#[derive(Debug)]
pub struct GlitchTip {
    client: Client,
    organization: String,
    dsns: Vec<(String, Dsn)>,
}

impl GlitchTip {
    /// The REST client, authenticated with the bootstrap token (every scope).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The organization's slug, as `Client::issues` and `wait_for_tagged_issue` want it.
    pub fn organization(&self) -> &str {
        &self.organization
    }

    /// The DSN of the project with this slug.
    pub fn dsn(&self, project: &str) -> Option<&Dsn> {
        self.dsns
            .iter()
            .find(|(slug, _)| slug == project)
            .map(|(_, dsn)| dsn)
    }

    /// Every project's slug and DSN, in the builder's order.
    pub fn dsns(&self) -> impl Iterator<Item = (&str, &Dsn)> {
        self.dsns.iter().map(|(slug, dsn)| (slug.as_str(), dsn))
    }
}

/// The Django shell script that makes (or finds) the superuser and a full-scope token, and
/// prints the token on a line of its own. Scopes are a 16-flag bit field: all set.
pub(crate) fn token_script(password: &str) -> String {
    format!(
        "from django.contrib.auth import get_user_model\n\
         from apps.api_tokens.models import APIToken\n\
         User = get_user_model()\n\
         user = User.objects.filter(email='admin@telltale.invalid').first() or User.objects.create_superuser(email='admin@telltale.invalid', password='{password}')\n\
         token = APIToken.objects.create(user=user, label='telltale-testkit', scopes=(1 << 16) - 1)\n\
         print('TELLTALE_TOKEN=' + token.token)\n"
    )
}

/// The token from the script's output, if it printed one.
pub(crate) fn parse_token(stdout: &str) -> Option<&str> {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("TELLTALE_TOKEN="))
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The spec `ensure_stack` runs: the builder's projects, then the canary's.
pub(crate) fn spec(plan: &GlitchTipPlan) -> StackSpec {
    let mut spec = StackSpec::new(&plan.organization, &plan.team);
    for project in &plan.projects {
        spec = spec.project(NewProject::new(project));
    }
    spec.project(NewProject::new(CANARY_PROJECT))
}

pub(crate) async fn bootstrap(
    web: &Running,
    base_url: &str,
    plan: &GlitchTipPlan,
    run_id: &str,
    dir: &TempDir,
) -> Result<(GlitchTip, PathBuf), Error> {
    let container = web.generic().expect("glitchtip-web is a generic container");
    let password = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let exec = ExecCommand::new(["./manage.py", "shell", "-c", &token_script(&password)])
        .with_cmd_ready_condition(CmdWaitFor::exit_code(0));
    let mut res = container
        .exec(exec)
        .await
        .map_err(|e| Error::glitchtip("make an API token in the web container", e))?;
    let stdout = res
        .stdout_to_vec()
        .await
        .map_err(|e| Error::glitchtip("read the token script's output", e))?;
    let stdout = String::from_utf8_lossy(&stdout);
    let token = parse_token(&stdout).ok_or_else(|| {
        Error::glitchtip(
            "make an API token in the web container",
            "the token script printed no TELLTALE_TOKEN= line",
        )
    })?;
    let token_file = dir.write_secret("glitchtip-token", token)?;
    let secret = telltale_glitchtip::Secret::from_file(&token_file)
        .map_err(|e| Error::glitchtip("read the token file back", e))?;
    let client = Client::builder(base_url)
        .token(secret)
        .build()
        .map_err(|e| Error::glitchtip("build the API client", e))?;
    let report = client
        .ensure_stack(&spec(plan))
        .await
        .map_err(|e| Error::glitchtip("ensure the organization, team, projects and keys", e))?;
    let organization = report.organization.slug.clone();
    let canary_dsn = report.dsn(CANARY_PROJECT).cloned().ok_or_else(|| {
        Error::glitchtip(
            "find the canary project's DSN",
            "ensure_stack returned none",
        )
    })?;
    let canary = format!("{run_id}-canary");
    let ingestor =
        Ingestor::new(canary_dsn).map_err(|e| Error::glitchtip("build the canary sender", e))?;
    ingestor
        .envelope_event(
            &NewEvent::message("telltale-testkit readiness canary").tag("run", &canary),
            SendOptions::default(),
        )
        .await
        .map_err(|e| Error::glitchtip("send the canary event", e))?;
    client
        .wait_for_tagged_issue(&organization, "run", &canary, CANARY_DEADLINE)
        .await
        .map_err(|e| Error::glitchtip("see the canary event (is the worker consuming?)", e))?;
    let dsns = report
        .projects
        .iter()
        .filter(|p| p.project.slug != CANARY_PROJECT)
        .map(|p| (p.project.slug.clone(), p.dsn.clone()))
        .collect();
    Ok((
        GlitchTip {
            client,
            organization,
            dsns,
        },
        token_file,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_its_own_line_only() {
        let out = "Warning: something\nTELLTALE_TOKEN=0a1b2c3d\n";
        assert_eq!(parse_token(out), Some("0a1b2c3d"));
        assert_eq!(parse_token("TELLTALE_TOKEN=\n"), None);
        assert_eq!(parse_token("TELLTALE_TOKEN=a b\n"), None);
        assert_eq!(parse_token("Traceback (most recent call last):\n"), None);
    }

    #[test]
    fn the_script_makes_a_superuser_and_an_all_scope_token() {
        let script = token_script("pw");
        assert!(script.contains("create_superuser(email='admin@telltale.invalid', password='pw')"));
        assert!(script.contains("scopes=(1 << 16) - 1"));
        assert!(
            script.lines().all(|l| !l.starts_with(' ')),
            "Python at top level: {script}"
        );
    }

    #[test]
    fn the_canary_project_comes_last_and_apart() {
        let plan = GlitchTipPlan {
            organization: "meridian".into(),
            team: "backend".into(),
            projects: vec!["be-platform".into(), "be-pwa".into()],
            host_port: 1,
        };
        let spec = spec(&plan);
        let names: Vec<_> = spec.projects.iter().map(|p| p.name.clone()).collect();
        assert_eq!(names, ["be-platform", "be-pwa", CANARY_PROJECT]);
        assert_eq!(
            (spec.organization.as_str(), spec.team.as_str()),
            ("meridian", "backend")
        );
    }
}
