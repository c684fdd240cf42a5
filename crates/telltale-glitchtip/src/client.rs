//! The REST API client (`/api/0/`, bearer token): configuration on top of `telltale-http`, the
//! exchange/retry layer, paging, and every endpoint the crate covers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::de::DeserializeOwned;
use telltale_http::{Answer, Auth, Body, Http, HttpConfig, Method, RetryPolicy, Secret};

use crate::error::ApiError;
use crate::pagination::{Cursor, Page};
use crate::types::{
    ApiRoot, Event, EventJson, Issue, IssueStatus, NewProject, Organization, Project, ProjectKey,
    ServerSettings, Team, WireProjectKey,
};
use crate::Error;

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    http: HttpConfig,
    retry: RetryPolicy,
    max_pages: usize,
}

impl ClientBuilder {
    /// Replaces the base URL, keeping every other setting.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.http.set_base_url(base_url);
        self
    }

    /// Authenticates with an API token (`Authorization: Bearer …`), as every `/api/0/`
    /// endpoint except the root and `/api/settings/` requires.
    pub fn token(mut self, token: Secret) -> Self {
        self.http.set_auth(Auth::Bearer(token));
        self
    }

    /// Authenticates with any [`Auth`] (basic auth for a proxy in front, for instance).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.http.set_auth(auth);
        self
    }

    /// Trusts the CA certificates in this PEM file, besides the Mozilla roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.http.add_ca_file(path);
        self
    }

    /// Sends an extra header on every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.http.add_header(name, value);
        self
    }

    /// The deadline for one HTTP exchange. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http.set_timeout(timeout);
        self
    }

    /// The deadline for establishing a connection. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http.set_connect_timeout(timeout);
        self
    }

    /// How failed requests are retried: 429 (honouring `Retry-After`), 502, 503, 504,
    /// timeouts and transport errors.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The most pages the "all pages" methods follow before giving up with an error
    /// (default 1000, i.e. 100 000 items at GlitchTip's 100-item page cap).
    pub fn max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages.max(1);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        Ok(Client {
            inner: Arc::new(Inner {
                http: self.http.build()?,
                retry: self.retry,
                max_pages: self.max_pages,
            }),
        })
    }
}

/// A GlitchTip REST API client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: Http,
    retry: RetryPolicy,
    max_pages: usize,
}

/// How organization issues are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IssueSort {
    /// By last event, newest first (GlitchTip's default).
    #[default]
    LastSeenDesc,
    /// By last event, oldest first.
    LastSeen,
    /// By first event, newest first.
    FirstSeenDesc,
    /// By first event, oldest first.
    FirstSeen,
    /// By event count, largest first.
    CountDesc,
    /// By event count, smallest first.
    Count,
    /// By GlitchTip's priority (log10 of count plus recency), highest first.
    PriorityDesc,
    /// By priority, lowest first.
    Priority,
}

impl IssueSort {
    /// The wire value of `sort`.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueSort::LastSeenDesc => "-last_seen",
            IssueSort::LastSeen => "last_seen",
            IssueSort::FirstSeenDesc => "-first_seen",
            IssueSort::FirstSeen => "first_seen",
            IssueSort::CountDesc => "-count",
            IssueSort::Count => "count",
            IssueSort::PriorityDesc => "-priority",
            IssueSort::Priority => "priority",
        }
    }
}

/// Filters for organization issues (`GET /api/0/organizations/{org}/issues/`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IssueQuery {
    /// GlitchTip's search: `is:unresolved`, `level:error`, `has:tag`, `tag:value`, free text,
    /// or an event id (which finds the issue holding that event).
    pub query: Option<String>,
    /// Only these project ids.
    pub projects: Vec<u64>,
    /// Only issues with an event in one of these environments.
    pub environments: Vec<String>,
    /// The order; GlitchTip's default is newest last event first.
    pub sort: Option<IssueSort>,
    /// Only issues first seen at or after this (RFC 3339, or `now-1h` style).
    pub start: Option<String>,
    /// Only issues first seen at or before this.
    pub end: Option<String>,
    /// Page size (GlitchTip caps it at 100; its default is 50).
    pub limit: Option<u32>,
}

impl IssueQuery {
    /// No filters.
    pub fn new() -> IssueQuery {
        IssueQuery::default()
    }

    /// Sets the search text.
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = Some(query.into());
        self
    }

    /// Issues holding an event tagged `key=value` (GlitchTip's `key:value` search; the value is
    /// quoted when it holds a space or a quote).
    pub fn tag(self, key: &str, value: &str) -> Self {
        let value = if value.contains([' ', '"', '\'']) {
            format!("\"{}\"", value.replace('"', ""))
        } else {
            value.to_owned()
        };
        self.query(format!("{key}:{value}"))
    }

    /// Adds a project id.
    pub fn project(mut self, project_id: u64) -> Self {
        self.projects.push(project_id);
        self
    }

    /// Adds an environment.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environments.push(environment.into());
        self
    }

    /// Sets the order.
    pub fn sort(mut self, sort: IssueSort) -> Self {
        self.sort = Some(sort);
        self
    }

    /// Only issues first seen at or after `t`.
    pub fn start(mut self, t: SystemTime) -> Self {
        self.start = Some(crate::time::format_rfc3339(t));
        self
    }

    /// Only issues first seen at or before `t`.
    pub fn end(mut self, t: SystemTime) -> Self {
        self.end = Some(crate::time::format_rfc3339(t));
        self
    }

    /// Only issues first seen at or after a relative time such as `now-1h` or `now-30m`.
    pub fn start_relative(mut self, relative: impl Into<String>) -> Self {
        self.start = Some(relative.into());
        self
    }

    /// Sets the page size.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub(crate) fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if let Some(q) = &self.query {
            p.push(("query", q.clone()));
        }
        for id in &self.projects {
            p.push(("project", id.to_string()));
        }
        for env in &self.environments {
            p.push(("environment", env.clone()));
        }
        if let Some(s) = self.sort {
            p.push(("sort", s.as_str().to_owned()));
        }
        if let Some(s) = &self.start {
            p.push(("start", s.clone()));
        }
        if let Some(e) = &self.end {
            p.push(("end", e.clone()));
        }
        if let Some(l) = self.limit {
            p.push(("limit", l.to_string()));
        }
        p
    }
}

/// Percent-encodes one path segment (slugs are usually safe; this keeps odd input from
/// escaping its segment).
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Starts configuring a client for the GlitchTip at `base_url`, e.g.
    /// `http://127.0.0.1:8200`. A path prefix is kept.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            http: HttpConfig::new(
                base_url,
                concat!("telltale-glitchtip/", env!("CARGO_PKG_VERSION")),
            ),
            retry: RetryPolicy::default(),
            max_pages: 1000,
        }
    }

    /// A client with default settings and no token (enough for [`Client::settings`]).
    pub fn new(base_url: impl Into<String>) -> Result<Client, Error> {
        Client::builder(base_url).build()
    }

    /// Configures a client from the environment, or `None` when `GLITCHTIP_URL` is unset.
    ///
    /// Reads `GLITCHTIP_URL`; the token from `GLITCHTIP_TOKEN_FILE` or `GLITCHTIP_TOKEN`;
    /// `GLITCHTIP_CA_CERT_PATH`.
    pub fn builder_from_env() -> Result<Option<ClientBuilder>, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(url) = var("GLITCHTIP_URL") else {
            return Ok(None);
        };
        let mut builder = Client::builder(url);
        if let Some(path) = var("GLITCHTIP_TOKEN_FILE") {
            builder = builder.token(Secret::from_file(path)?);
        } else if var("GLITCHTIP_TOKEN").is_some() {
            builder = builder.token(Secret::from_env("GLITCHTIP_TOKEN")?);
        }
        if let Some(ca) = var("GLITCHTIP_CA_CERT_PATH") {
            builder = builder.ca_file(ca);
        }
        Ok(Some(builder))
    }

    /// The base URL requests are made against.
    pub fn base_url(&self) -> &str {
        self.inner.http.base_url()
    }

    /// One exchange, no retries; a non-2xx answer becomes [`Error::Api`].
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Body<'_>>,
    ) -> Result<Answer, Error> {
        let answer = self
            .inner
            .http
            .exchange(method, path, query, body, &[("accept", "application/json")])
            .await?;
        if answer.is_success() {
            Ok(answer)
        } else {
            Err(Error::Api(ApiError::new(
                answer.status,
                path,
                &answer.body,
                answer.retry_after,
            )))
        }
    }

    /// An exchange with the retry policy applied. Only idempotent methods are retried after a
    /// transport error or timeout; a POST is retried only on 429/502/503/504.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Body<'_>>,
    ) -> Result<Answer, Error> {
        let mut attempts = 0;
        let hint = |err: &Error| {
            let ok = match err {
                Error::Api(api) => api.is_retryable(),
                Error::Timeout { .. } | Error::Transport { .. } => method != Method::Post,
                _ => false,
            };
            ok.then(|| err.api().and_then(ApiError::retry_after))
        };
        self.inner
            .retry
            .run(
                &mut attempts,
                || self.exchange(method, path, query, body),
                hint,
            )
            .await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let answer = self.call(Method::Get, path, query, None).await?;
        decode_json(path, &answer.body)
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        json: &str,
    ) -> Result<T, Error> {
        let body = Body {
            bytes: json.as_bytes(),
            content_type: "application/json",
            content_encoding: None,
        };
        let answer = self.call(method, path, &[], Some(body)).await?;
        decode_json(path, &answer.body)
    }

    async fn delete(&self, path: &str) -> Result<(), Error> {
        self.call(Method::Delete, path, &[], None).await?;
        Ok(())
    }

    /// One page of a listing.
    async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        cursor: Option<&Cursor>,
    ) -> Result<Page<T>, Error> {
        let mut q: Vec<(&str, String)> = query.to_vec();
        if let Some(c) = cursor {
            q.push(("cursor", c.as_str().to_owned()));
        }
        let answer = self.call(Method::Get, path, &q, None).await?;
        decode_page(path, &answer)
    }

    /// Every page of a listing, following `next` cursors.
    async fn all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        let mut cursor: Option<Cursor> = None;
        for _ in 0..self.inner.max_pages {
            let page: Page<T> = self.page(path, query, cursor.as_ref()).await?;
            let empty = page.items.is_empty();
            out.extend(page.items);
            match page.next {
                Some(next) if !empty && Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(out),
            }
        }
        Err(Error::decode(
            path,
            format!(
                "still more pages after {} pages; raise max_pages",
                self.inner.max_pages
            ),
            b"",
        ))
    }

    // ---- probes ----

    /// `GET /api/0/`: validates the token and says whose it is. With a valid token `user` and
    /// `auth` are set; with no or a bad token GlitchTip answers 200 with both `None`.
    pub async fn whoami(&self) -> Result<ApiRoot, Error> {
        self.get("api/0/", &[]).await
    }

    /// `GET /api/settings/`: the server version and feature flags (no auth needed).
    pub async fn settings(&self) -> Result<ServerSettings, Error> {
        self.get("api/settings/", &[]).await
    }

    // ---- organizations ----

    /// `GET /api/0/organizations/`, every page.
    pub async fn organizations(&self) -> Result<Vec<Organization>, Error> {
        self.all("api/0/organizations/", &[]).await
    }

    /// `GET /api/0/organizations/{org}/`, with its projects and teams.
    pub async fn organization(&self, org: &str) -> Result<Organization, Error> {
        self.get(&format!("api/0/organizations/{}/", seg(org)), &[])
            .await
    }

    /// `POST /api/0/organizations/` (201). GlitchTip derives the slug from the name.
    pub async fn create_organization(&self, name: &str) -> Result<Organization, Error> {
        let body = serde_json::json!({ "name": name }).to_string();
        self.send_json(Method::Post, "api/0/organizations/", &body)
            .await
    }

    /// `DELETE /api/0/organizations/{org}/` (204).
    pub async fn delete_organization(&self, org: &str) -> Result<(), Error> {
        self.delete(&format!("api/0/organizations/{}/", seg(org)))
            .await
    }

    // ---- teams ----

    /// `GET /api/0/organizations/{org}/teams/`, every page.
    pub async fn teams(&self, org: &str) -> Result<Vec<Team>, Error> {
        self.all(&format!("api/0/organizations/{}/teams/", seg(org)), &[])
            .await
    }

    /// `GET /api/0/teams/{org}/{team}/`.
    pub async fn team(&self, org: &str, team: &str) -> Result<Team, Error> {
        self.get(&format!("api/0/teams/{}/{}/", seg(org), seg(team)), &[])
            .await
    }

    /// `POST /api/0/organizations/{org}/teams/` (201).
    pub async fn create_team(&self, org: &str, slug: &str) -> Result<Team, Error> {
        let body = serde_json::json!({ "slug": slug }).to_string();
        self.send_json(
            Method::Post,
            &format!("api/0/organizations/{}/teams/", seg(org)),
            &body,
        )
        .await
    }

    /// `DELETE /api/0/teams/{org}/{team}/` (204).
    pub async fn delete_team(&self, org: &str, team: &str) -> Result<(), Error> {
        self.delete(&format!("api/0/teams/{}/{}/", seg(org), seg(team)))
            .await
    }

    // ---- projects ----

    /// `GET /api/0/projects/`: every project the token sees, every page.
    pub async fn projects(&self) -> Result<Vec<Project>, Error> {
        self.all("api/0/projects/", &[]).await
    }

    /// `GET /api/0/organizations/{org}/projects/`, every page.
    pub async fn organization_projects(&self, org: &str) -> Result<Vec<Project>, Error> {
        self.all(&format!("api/0/organizations/{}/projects/", seg(org)), &[])
            .await
    }

    /// `GET /api/0/teams/{org}/{team}/projects/`, every page.
    pub async fn team_projects(&self, org: &str, team: &str) -> Result<Vec<Project>, Error> {
        self.all(
            &format!("api/0/teams/{}/{}/projects/", seg(org), seg(team)),
            &[],
        )
        .await
    }

    /// `GET /api/0/projects/{org}/{project}/`.
    pub async fn project(&self, org: &str, project: &str) -> Result<Project, Error> {
        self.get(
            &format!("api/0/projects/{}/{}/", seg(org), seg(project)),
            &[],
        )
        .await
    }

    /// `POST /api/0/teams/{org}/{team}/projects/` (201). GlitchTip gives a new project one key.
    pub async fn create_project(
        &self,
        org: &str,
        team: &str,
        project: &NewProject,
    ) -> Result<Project, Error> {
        self.send_json(
            Method::Post,
            &format!("api/0/teams/{}/{}/projects/", seg(org), seg(team)),
            &project.to_json(),
        )
        .await
    }

    /// `PUT /api/0/projects/{org}/{project}/`: changes name, platform or throttle rate (the
    /// fields set in `update`; `name` is required by GlitchTip).
    pub async fn update_project(
        &self,
        org: &str,
        project: &str,
        update: &NewProject,
    ) -> Result<Project, Error> {
        self.send_json(
            Method::Put,
            &format!("api/0/projects/{}/{}/", seg(org), seg(project)),
            &update.to_json(),
        )
        .await
    }

    /// `DELETE /api/0/projects/{org}/{project}/` (204).
    pub async fn delete_project(&self, org: &str, project: &str) -> Result<(), Error> {
        self.delete(&format!("api/0/projects/{}/{}/", seg(org), seg(project)))
            .await
    }

    // ---- keys ----

    /// `GET /api/0/projects/{org}/{project}/keys/`, every page.
    pub async fn keys(&self, org: &str, project: &str) -> Result<Vec<ProjectKey>, Error> {
        let path = format!("api/0/projects/{}/{}/keys/", seg(org), seg(project));
        let wire: Vec<WireProjectKey> = self.all(&path, &[]).await?;
        wire.into_iter().map(WireProjectKey::into_key).collect()
    }

    /// `POST /api/0/projects/{org}/{project}/keys/` (201): a new key, with its DSN.
    pub async fn create_key(
        &self,
        org: &str,
        project: &str,
        name: Option<&str>,
    ) -> Result<ProjectKey, Error> {
        let path = format!("api/0/projects/{}/{}/keys/", seg(org), seg(project));
        let body = match name {
            Some(n) => serde_json::json!({ "name": n }).to_string(),
            None => "{}".to_owned(),
        };
        let wire: WireProjectKey = self.send_json(Method::Post, &path, &body).await?;
        wire.into_key()
    }

    // ---- issues ----

    /// One page of `GET /api/0/organizations/{org}/issues/`.
    pub async fn issues_page(
        &self,
        org: &str,
        query: &IssueQuery,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Issue>, Error> {
        self.page(
            &format!("api/0/organizations/{}/issues/", seg(org)),
            &query.params(),
            cursor,
        )
        .await
    }

    /// Every page of `GET /api/0/organizations/{org}/issues/`.
    pub async fn issues(&self, org: &str, query: &IssueQuery) -> Result<Vec<Issue>, Error> {
        self.all(
            &format!("api/0/organizations/{}/issues/", seg(org)),
            &query.params(),
        )
        .await
    }

    /// `GET /api/0/issues/{id}/`.
    pub async fn issue(&self, issue_id: u64) -> Result<Issue, Error> {
        self.get(&format!("api/0/issues/{issue_id}/"), &[]).await
    }

    /// `PUT /api/0/issues/{id}/` with a new status.
    pub async fn update_issue(&self, issue_id: u64, status: IssueStatus) -> Result<Issue, Error> {
        if status == IssueStatus::Other {
            return Err(Error::config(
                "an issue can only be set to unresolved, resolved or ignored",
            ));
        }
        let body = serde_json::json!({ "status": status.as_str() }).to_string();
        self.send_json(Method::Put, &format!("api/0/issues/{issue_id}/"), &body)
            .await
    }

    /// Marks an issue resolved.
    pub async fn resolve_issue(&self, issue_id: u64) -> Result<Issue, Error> {
        self.update_issue(issue_id, IssueStatus::Resolved).await
    }

    /// Marks an issue ignored.
    pub async fn ignore_issue(&self, issue_id: u64) -> Result<Issue, Error> {
        self.update_issue(issue_id, IssueStatus::Ignored).await
    }

    /// `DELETE /api/0/issues/{id}/` (204). GlitchTip hides the issue from listings at once and
    /// removes it and its events in the background; until then `GET /api/0/issues/{id}/` still
    /// answers it.
    pub async fn delete_issue(&self, issue_id: u64) -> Result<(), Error> {
        self.delete(&format!("api/0/issues/{issue_id}/")).await
    }

    // ---- events ----

    /// One page of `GET /api/0/issues/{id}/events/`, newest received first. An unknown issue
    /// answers an empty page, not 404.
    pub async fn issue_events_page(
        &self,
        issue_id: u64,
        limit: Option<u32>,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Event>, Error> {
        let q: Vec<(&str, String)> = limit
            .map(|l| ("limit", l.to_string()))
            .into_iter()
            .collect();
        self.page(&format!("api/0/issues/{issue_id}/events/"), &q, cursor)
            .await
    }

    /// Every page of `GET /api/0/issues/{id}/events/`.
    pub async fn issue_events(&self, issue_id: u64) -> Result<Vec<Event>, Error> {
        self.all(
            &format!("api/0/issues/{issue_id}/events/"),
            &[("limit", "100".to_owned())],
        )
        .await
    }

    /// `GET /api/0/issues/{id}/events/latest/`.
    pub async fn latest_event(&self, issue_id: u64) -> Result<Event, Error> {
        self.get(&format!("api/0/issues/{issue_id}/events/latest/"), &[])
            .await
    }

    /// `GET /api/0/issues/{id}/events/{event_id}/`.
    pub async fn issue_event(&self, issue_id: u64, event_id: &str) -> Result<Event, Error> {
        self.get(
            &format!("api/0/issues/{issue_id}/events/{}/", seg(event_id)),
            &[],
        )
        .await
    }

    /// `GET /api/0/organizations/{org}/issues/{id}/events/{event_id}/json/`: the stored event.
    pub async fn event_json(
        &self,
        org: &str,
        issue_id: u64,
        event_id: &str,
    ) -> Result<EventJson, Error> {
        let path = format!(
            "api/0/organizations/{}/issues/{issue_id}/events/{}/json/",
            seg(org),
            seg(event_id)
        );
        let answer = self.call(Method::Get, &path, &[], None).await?;
        EventJson::parse(&path, &answer.body)
    }

    /// Finds an event by id across an organization: the issue holding it (GlitchTip's
    /// event-id search) and the event. `None` while it is not (yet) stored.
    pub async fn find_event(
        &self,
        org: &str,
        event_id: &str,
    ) -> Result<Option<(Issue, Event)>, Error> {
        let id = normalize_event_id(event_id)
            .ok_or_else(|| Error::config("an event id is 32 hex digits"))?;
        let page = self
            .issues_page(org, &IssueQuery::new().query(&id).limit(5), None)
            .await?;
        for issue in page.items {
            match self.issue_event(issue.id, &id).await {
                Ok(event) => return Ok(Some((issue, event))),
                Err(Error::Api(api)) if api.status() == 404 => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Polls [`Client::find_event`] every 250 ms until the event is stored or `deadline`
    /// passes ([`Error::NotVisible`]).
    pub async fn wait_for_event(
        &self,
        org: &str,
        event_id: &str,
        deadline: Duration,
    ) -> Result<(Issue, Event), Error> {
        let started = Instant::now();
        loop {
            if let Some(found) = self.find_event(org, event_id).await? {
                return Ok(found);
            }
            if started.elapsed() >= deadline {
                return Err(Error::NotVisible {
                    what: format!("event {event_id}"),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Polls organization issues every 250 ms until one holds an event tagged `key=value`, or
    /// `deadline` passes ([`Error::NotVisible`]).
    pub async fn wait_for_tagged_issue(
        &self,
        org: &str,
        key: &str,
        value: &str,
        deadline: Duration,
    ) -> Result<Issue, Error> {
        let started = Instant::now();
        let query = IssueQuery::new().tag(key, value).limit(5);
        loop {
            let page = self.issues_page(org, &query, None).await?;
            if let Some(issue) = page.items.into_iter().next() {
                return Ok(issue);
            }
            if started.elapsed() >= deadline {
                return Err(Error::NotVisible {
                    what: format!("an issue tagged {key}={value}"),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Lowercase 32-hex form of an event id given with or without dashes.
pub(crate) fn normalize_event_id(id: &str) -> Option<String> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

pub(crate) fn decode_json<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::decode(path, format!("not the documented JSON: {e}"), body))
}

pub(crate) fn decode_page<T: DeserializeOwned>(
    path: &str,
    answer: &Answer,
) -> Result<Page<T>, Error> {
    let items: Vec<T> = decode_json(path, &answer.body)?;
    Ok(Page::from_headers(items, &answer.headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_query_params() {
        let q = IssueQuery::new()
            .tag("run", "r 1")
            .project(1)
            .project(2)
            .environment("prod")
            .sort(IssueSort::PriorityDesc)
            .start_relative("now-1h")
            .limit(2);
        let p = q.params();
        assert_eq!(p[0], ("query", "run:\"r 1\"".to_owned()));
        assert_eq!(
            p.iter().filter(|(k, _)| *k == "project").count(),
            2,
            "{p:?}"
        );
        assert!(p.contains(&("sort", "-priority".to_owned())));
        assert!(p.contains(&("start", "now-1h".to_owned())));
    }

    #[test]
    fn segments_are_escaped_and_event_ids_normalized() {
        assert_eq!(seg("be-platform"), "be-platform");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(
            normalize_event_id("01234567-89AB-cdef-0123-456789abcdef").as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(normalize_event_id("xyz"), None);
    }

    #[test]
    fn token_becomes_a_sensitive_header() {
        let c = Client::builder("http://127.0.0.1:1")
            .token(Secret::from_env("PATH").unwrap())
            .build()
            .unwrap();
        let h = c.inner.http.default_headers();
        assert!(h.get("authorization").unwrap().is_sensitive());
        assert!(!format!("{c:?}").contains(&std::env::var("PATH").unwrap()));
    }
}
