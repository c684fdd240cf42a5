//! Idempotent bootstrap: `ensure_*` create the organization, team, projects and keys a stack
//! needs when they are missing, and change nothing when they exist. The harness uses
//! [`Client::ensure_stack`] to produce the DSNs a deployment hands back.

use crate::client::Client;
use crate::types::{slugify, NewProject, Organization, Project, ProjectKey, Team};
use crate::{Dsn, Error};

/// What a stack needs: one organization, one team, and projects owned by that team.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackSpec {
    /// The organization's name (its slug is derived from it, as GlitchTip does).
    pub organization: String,
    /// The team's slug.
    pub team: String,
    /// The projects.
    pub projects: Vec<NewProject>,
}

impl StackSpec {
    /// A spec with an organization and a team and no projects yet.
    pub fn new(organization: impl Into<String>, team: impl Into<String>) -> StackSpec {
        StackSpec {
            organization: organization.into(),
            team: team.into(),
            projects: Vec::new(),
        }
    }

    /// Adds a project.
    pub fn project(mut self, project: NewProject) -> StackSpec {
        self.projects.push(project);
        self
    }
}

/// Something `ensure_*` had to create.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Created {
    /// An organization (its slug).
    Organization(String),
    /// A team (its slug).
    Team(String),
    /// A project (its slug).
    Project(String),
    /// A key for the project with this slug.
    Key(String),
}

/// One bootstrapped project and the DSN to hand to its app.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackProject {
    /// The project.
    pub project: Project,
    /// Its first key's DSN.
    pub dsn: Dsn,
}

/// What [`Client::ensure_stack`] found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackReport {
    /// The organization.
    pub organization: Organization,
    /// The team.
    pub team: Team,
    /// The projects, in the spec's order.
    pub projects: Vec<StackProject>,
    /// What had to be created; empty when the stack was already complete.
    pub created: Vec<Created>,
}

impl StackReport {
    /// The DSN of the project with this slug.
    pub fn dsn(&self, project_slug: &str) -> Option<&Dsn> {
        self.projects
            .iter()
            .find(|p| p.project.slug == project_slug)
            .map(|p| &p.dsn)
    }
}

impl Client {
    /// The organization named `name` (matched by name or by its derived slug), created when
    /// missing. Returns it and whether it was created.
    pub async fn ensure_organization(&self, name: &str) -> Result<(Organization, bool), Error> {
        let slug = slugify(name);
        let existing = self
            .organizations()
            .await?
            .into_iter()
            .find(|o| o.slug == slug || o.name == name);
        match existing {
            Some(org) => Ok((org, false)),
            None => Ok((self.create_organization(name).await?, true)),
        }
    }

    /// The team `slug` in `org`, created when missing.
    pub async fn ensure_team(&self, org: &str, slug: &str) -> Result<(Team, bool), Error> {
        match self.team(org, slug).await {
            Ok(team) => Ok((team, false)),
            Err(Error::Api(api)) if api.status() == 404 => {
                Ok((self.create_team(org, slug).await?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// The project in `org` with `project`'s slug (or, failing that, its name), created under
    /// `team` when missing. An existing project is left as it is (its platform and throttle
    /// are not changed).
    pub async fn ensure_project(
        &self,
        org: &str,
        team: &str,
        project: &NewProject,
    ) -> Result<(Project, bool), Error> {
        let slug = project.effective_slug();
        match self.project(org, &slug).await {
            Ok(p) => Ok((p, false)),
            Err(Error::Api(api)) if api.status() == 404 => {
                // GlitchTip may have slugified the name differently (non-ASCII names).
                let by_name = self
                    .organization_projects(org)
                    .await?
                    .into_iter()
                    .find(|p| p.name == project.name);
                match by_name {
                    Some(p) => Ok((p, false)),
                    None => Ok((self.create_project(org, team, project).await?, true)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The project's first key, created when it has none.
    pub async fn ensure_key(&self, org: &str, project: &str) -> Result<(ProjectKey, bool), Error> {
        if let Some(key) = self.keys(org, project).await?.into_iter().next() {
            return Ok((key, false));
        }
        Ok((self.create_key(org, project, None).await?, true))
    }

    /// Ensures the whole stack and returns every project's DSN. Run twice, the second run
    /// reports nothing created.
    pub async fn ensure_stack(&self, spec: &StackSpec) -> Result<StackReport, Error> {
        let mut created = Vec::new();
        let (organization, made) = self.ensure_organization(&spec.organization).await?;
        if made {
            created.push(Created::Organization(organization.slug.clone()));
        }
        let org = organization.slug.clone();
        let (team, made) = self.ensure_team(&org, &spec.team).await?;
        if made {
            created.push(Created::Team(team.slug.clone()));
        }
        let mut projects = Vec::new();
        for wanted in &spec.projects {
            let (project, made) = self.ensure_project(&org, &team.slug, wanted).await?;
            if made {
                created.push(Created::Project(project.slug.clone()));
            }
            let (key, made) = self.ensure_key(&org, &project.slug).await?;
            if made {
                created.push(Created::Key(project.slug.clone()));
            }
            projects.push(StackProject {
                project,
                dsn: key.dsn().clone(),
            });
        }
        Ok(StackReport {
            organization,
            team,
            projects,
            created,
        })
    }
}
