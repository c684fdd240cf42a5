//! What the REST API returns: token info, server settings, organizations, teams, projects,
//! keys, issues and events, decoded from GlitchTip's JSON (ids arrive as strings, issue-event
//! lists are snake_case while event details are camelCase; both are read).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::dsn::Dsn;

/// Reads an id or count that GlitchTip sends as a JSON string (`"7"`) or a number.
fn flex_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flex {
        N(u64),
        S(String),
    }
    match Flex::deserialize(d)? {
        Flex::N(n) => Ok(n),
        Flex::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

fn flex_u64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flex {
        N(u64),
        S(String),
        Null,
    }
    Ok(match Option::<Flex>::deserialize(d)? {
        Some(Flex::N(n)) => Some(n),
        Some(Flex::S(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `GET /api/0/`: who the token belongs to and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ApiRoot {
    /// The API version (`"0"`).
    pub version: String,
    /// The token's user; `None` without (valid) auth.
    pub user: Option<User>,
    /// The token's label and scopes; `None` without a token.
    pub auth: Option<TokenInfo>,
}

/// A GlitchTip user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct User {
    /// The user id.
    #[serde(deserialize_with = "flex_u64")]
    pub id: u64,
    /// The user name (usually the e-mail address).
    #[serde(default)]
    pub username: String,
    /// The e-mail address.
    #[serde(default)]
    pub email: String,
    /// The display name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Whether the user is a superuser.
    #[serde(default)]
    pub is_superuser: bool,
    /// Whether the account is active.
    #[serde(default)]
    pub is_active: bool,
}

/// The token part of `GET /api/0/` (the token's value is never kept).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The token id.
    #[serde(deserialize_with = "flex_u64")]
    pub id: u64,
    /// The token's label.
    #[serde(default, deserialize_with = "null_default")]
    pub label: String,
    /// Its scopes, e.g. `project:read`, `event:admin`.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl TokenInfo {
    /// Whether the token has this scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// `GET /api/settings/`: the server's version and feature flags (no auth needed).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServerSettings {
    /// The server version, e.g. `5.1.0+master.c264800f`.
    pub version: String,
    /// The server's time zone, e.g. `UTC`.
    #[serde(default, deserialize_with = "null_default")]
    pub server_time_zone: String,
    /// Whether billing (and so event quotas) is on.
    #[serde(default)]
    pub billing_enabled: bool,
    /// Whether new users may register.
    #[serde(default)]
    pub enable_user_registration: bool,
    /// Whether users may create organizations.
    #[serde(default)]
    pub enable_organization_creation: bool,
    /// The instance's name, if set.
    #[serde(default)]
    pub glitchtip_instance_name: Option<String>,
    /// The environment GlitchTip reports its own errors under, if set.
    #[serde(default)]
    pub environment: Option<String>,
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Organization {
    /// The id.
    #[serde(deserialize_with = "flex_u64")]
    pub id: u64,
    /// The slug used in URLs.
    pub slug: String,
    /// The display name.
    pub name: String,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub date_created: Option<String>,
    /// Whether it accepts events.
    #[serde(default = "yes")]
    pub is_accepting_events: bool,
    /// Percentage of events throttled (0 = none).
    #[serde(default)]
    pub event_throttle_rate: u32,
    /// Its projects (the detail view only).
    #[serde(default, deserialize_with = "null_default")]
    pub projects: Vec<Project>,
    /// Its teams (the detail view only).
    #[serde(default, deserialize_with = "null_default")]
    pub teams: Vec<Team>,
}

fn yes() -> bool {
    true
}

/// A team.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Team {
    /// The id.
    #[serde(deserialize_with = "flex_u64")]
    pub id: u64,
    /// The slug.
    pub slug: String,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub date_created: Option<String>,
    /// Whether the token's user is a member.
    #[serde(default)]
    pub is_member: bool,
    /// How many members it has.
    #[serde(default)]
    pub member_count: u64,
    /// Its projects (listings only).
    #[serde(default, deserialize_with = "null_default")]
    pub projects: Vec<Project>,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Project {
    /// The id (the DSN's project id).
    #[serde(deserialize_with = "flex_u64")]
    pub id: u64,
    /// The slug.
    pub slug: String,
    /// The display name.
    pub name: String,
    /// The platform, e.g. `rust`, `javascript`.
    #[serde(default)]
    pub platform: Option<String>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub date_created: Option<String>,
    /// When its first event arrived (RFC 3339), if any has.
    #[serde(default)]
    pub first_event: Option<String>,
    /// Percentage of events throttled (0 = none, 100 = all refused with 429).
    #[serde(default, deserialize_with = "null_default")]
    pub event_throttle_rate: u32,
    /// Its organization (`GET /api/0/projects/…` only).
    #[serde(default)]
    pub organization: Option<Box<Organization>>,
    /// Its teams (organization views only).
    #[serde(default, deserialize_with = "null_default")]
    pub teams: Vec<TeamRef>,
}

/// A team named inside another object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TeamRef {
    /// The id.
    #[serde(deserialize_with = "flex_u64")]
    pub id: u64,
    /// The slug.
    pub slug: String,
}

/// What to create: `POST /api/0/teams/{org}/{team}/projects/`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NewProject {
    /// The display name (required).
    pub name: String,
    /// The slug; GlitchTip derives it from the name when unset.
    pub slug: Option<String>,
    /// The platform, e.g. `rust`.
    pub platform: Option<String>,
    /// Percentage of events to throttle; 100 makes ingest answer 429 to every event.
    pub event_throttle_rate: Option<u32>,
}

impl NewProject {
    /// A project with this name.
    pub fn new(name: impl Into<String>) -> NewProject {
        NewProject {
            name: name.into(),
            ..NewProject::default()
        }
    }

    /// Sets the platform.
    pub fn platform(mut self, platform: impl Into<String>) -> NewProject {
        self.platform = Some(platform.into());
        self
    }

    /// Sets the slug.
    pub fn slug(mut self, slug: impl Into<String>) -> NewProject {
        self.slug = Some(slug.into());
        self
    }

    /// Sets the throttle rate (percent).
    pub fn event_throttle_rate(mut self, rate: u32) -> NewProject {
        self.event_throttle_rate = Some(rate);
        self
    }

    /// The slug GlitchTip will use: the given one, else the name slugified.
    pub fn effective_slug(&self) -> String {
        self.slug.clone().unwrap_or_else(|| slugify(&self.name))
    }

    pub(crate) fn to_json(&self) -> String {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), self.name.clone().into());
        if let Some(s) = &self.slug {
            m.insert("slug".into(), s.clone().into());
        }
        if let Some(p) = &self.platform {
            m.insert("platform".into(), p.clone().into());
        }
        if let Some(r) = self.event_throttle_rate {
            m.insert("eventThrottleRate".into(), r.into());
        }
        serde_json::Value::Object(m).to_string()
    }
}

/// Django's `slugify` for ASCII names: lowercase, runs of other characters become `-`.
pub(crate) fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if (c == '-' || c.is_whitespace()) && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// A project key: the DSN events are sent with. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ProjectKey {
    pub(crate) label: String,
    pub(crate) project_id: u64,
    pub(crate) date_created: Option<String>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) dsn: Dsn,
}

impl ProjectKey {
    /// The key's label (often empty).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The project it belongs to.
    pub fn project_id(&self) -> u64 {
        self.project_id
    }

    /// When it was created (RFC 3339).
    pub fn date_created(&self) -> Option<&str> {
        self.date_created.as_deref()
    }

    /// Its rate limit, if one is set.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// The DSN, parsed and validated.
    pub fn dsn(&self) -> &Dsn {
        &self.dsn
    }
}

impl fmt::Debug for ProjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectKey")
            .field("label", &self.label)
            .field("project_id", &self.project_id)
            .field("dsn", &self.dsn)
            .finish_non_exhaustive()
    }
}

/// A key's rate limit: at most `count` events per `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RateLimit {
    /// The window in seconds.
    pub window: u64,
    /// Events allowed per window.
    pub count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireProjectKey {
    #[serde(default, deserialize_with = "null_default")]
    label: String,
    #[serde(
        alias = "projectID",
        alias = "project_id",
        deserialize_with = "flex_u64"
    )]
    project_id: u64,
    #[serde(default)]
    date_created: Option<String>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    dsn: WireDsns,
}

#[derive(Deserialize)]
struct WireDsns {
    public: String,
}

impl WireProjectKey {
    pub(crate) fn into_key(self) -> Result<ProjectKey, crate::Error> {
        Ok(ProjectKey {
            label: self.label,
            project_id: self.project_id,
            date_created: self.date_created,
            rate_limit: self.rate_limit,
            dsn: Dsn::parse(&self.dsn.public)?,
        })
    }
}

/// An issue's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IssueStatus {
    /// `unresolved`.
    Unresolved,
    /// `resolved`.
    Resolved,
    /// `ignored`.
    Ignored,
    /// A status this client does not know.
    Other,
}

impl IssueStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
            IssueStatus::Other => "other",
        }
    }
}

impl<'de> Deserialize<'de> for IssueStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IssueStatus, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "unresolved" => IssueStatus::Unresolved,
            "resolved" => IssueStatus::Resolved,
            "ignored" => IssueStatus::Ignored,
            _ => IssueStatus::Other,
        })
    }
}

/// The project named inside an issue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ProjectRef {
    /// The id.
    #[serde(deserialize_with = "flex_u64")]
    pub id: u64,
    /// The slug.
    pub slug: String,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The platform.
    #[serde(default)]
    pub platform: Option<String>,
}

/// The grouping metadata of an issue or event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[non_exhaustive]
pub struct IssueMetadata {
    /// The exception type, for error issues.
    #[serde(default, rename = "type")]
    pub exception_type: Option<String>,
    /// The exception value.
    #[serde(default)]
    pub value: Option<String>,
    /// The file of the culprit frame.
    #[serde(default)]
    pub filename: Option<String>,
    /// The function of the culprit frame.
    #[serde(default)]
    pub function: Option<String>,
    /// The title, for message issues.
    #[serde(default)]
    pub title: Option<String>,
}

/// An issue: events grouped by fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Issue {
    /// The id.
    #[serde(deserialize_with = "flex_u64")]
    pub id: u64,
    /// The short id, e.g. `BE-PLATFORM-5`.
    #[serde(default)]
    pub short_id: String,
    /// The title, e.g. `ZeroDivisionError: division by zero`.
    #[serde(default)]
    pub title: String,
    /// The culprit.
    #[serde(default, deserialize_with = "null_default")]
    pub culprit: String,
    /// The level: `error`, `warning`, …
    #[serde(default)]
    pub level: Option<String>,
    /// `error`, `default`, `csp`, …
    #[serde(default, rename = "type")]
    pub issue_type: Option<String>,
    /// The status.
    pub status: IssueStatus,
    /// How many events it holds.
    #[serde(default, deserialize_with = "flex_u64")]
    pub count: u64,
    /// How many users it affected.
    #[serde(default, alias = "user_count")]
    pub user_count: u64,
    /// When its first event arrived (RFC 3339).
    #[serde(default)]
    pub first_seen: Option<String>,
    /// When its last event arrived (RFC 3339).
    #[serde(default)]
    pub last_seen: Option<String>,
    /// Its project.
    pub project: ProjectRef,
    /// Grouping metadata.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: IssueMetadata,
    /// A link to the issue in the web UI.
    #[serde(default)]
    pub permalink: Option<String>,
    /// How many comments it has.
    #[serde(default)]
    pub num_comments: u64,
}

/// A tag of an event: `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// An event as the issue-events endpoints return it (`/issues/{id}/events/` in snake_case,
/// `…/latest/` and `…/{event_id}/` in camelCase; both read into this).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// The event id: 32 hex digits.
    #[serde(alias = "eventID")]
    pub event_id: String,
    /// The project id.
    #[serde(alias = "projectID", deserialize_with = "flex_u64")]
    pub project_id: u64,
    /// The issue (group) id.
    #[serde(default, alias = "groupID", deserialize_with = "flex_u64_opt")]
    pub group_id: Option<u64>,
    /// The event's own timestamp (RFC 3339).
    #[serde(default, alias = "dateCreated")]
    pub date_created: Option<String>,
    /// When GlitchTip received it (RFC 3339).
    #[serde(default, alias = "dateReceived")]
    pub date_received: Option<String>,
    /// The platform.
    #[serde(default)]
    pub platform: Option<String>,
    /// `error`, `default`, …
    #[serde(default, rename = "type")]
    pub event_type: Option<String>,
    /// The title.
    #[serde(default, deserialize_with = "null_default")]
    pub title: String,
    /// The message.
    #[serde(default, deserialize_with = "null_default")]
    pub message: String,
    /// The culprit.
    #[serde(default, deserialize_with = "null_default")]
    pub culprit: String,
    /// Its tags, in the server's order.
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<Tag>,
    /// Grouping metadata.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: IssueMetadata,
    /// The next event of the issue (detail views only).
    #[serde(default, alias = "nextEventID")]
    pub next_event_id: Option<String>,
    /// The previous event of the issue (detail views only).
    #[serde(default, alias = "previousEventID")]
    pub previous_event_id: Option<String>,
}

impl Event {
    /// The value of a tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// An event's stored JSON (`/organizations/{org}/issues/{id}/events/{event_id}/json/`), with
/// the parts tests check most, and the raw text for everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventJson {
    /// The event id.
    pub event_id: String,
    /// The title.
    pub title: Option<String>,
    /// The level.
    pub level: Option<String>,
    /// The platform.
    pub platform: Option<String>,
    /// The environment.
    pub environment: Option<String>,
    /// The release.
    pub release: Option<String>,
    /// The tags, sorted by key.
    pub tags: BTreeMap<String, String>,
    /// The grouping hashes.
    pub hashes: Vec<String>,
    /// The whole document as GlitchTip sent it.
    pub raw: String,
}

impl EventJson {
    pub(crate) fn parse(endpoint: &str, body: &[u8]) -> Result<EventJson, crate::Error> {
        #[derive(Deserialize)]
        struct Wire {
            event_id: String,
            #[serde(default)]
            title: Option<String>,
            #[serde(default)]
            level: Option<String>,
            #[serde(default)]
            platform: Option<String>,
            #[serde(default)]
            environment: Option<String>,
            #[serde(default)]
            release: Option<String>,
            #[serde(default)]
            tags: Option<serde_json::Value>,
            #[serde(default)]
            hashes: Option<Vec<String>>,
        }
        let w: Wire = serde_json::from_slice(body).map_err(|e| {
            crate::Error::decode(endpoint, format!("not an event document: {e}"), body)
        })?;
        let tags = w.tags.as_ref().map(tags_of).unwrap_or_default();
        Ok(EventJson {
            release: w.release.or_else(|| tags.get("release").cloned()),
            event_id: w.event_id,
            title: w.title,
            level: w.level,
            platform: w.platform,
            environment: w.environment,
            tags,
            hashes: w.hashes.unwrap_or_default(),
            raw: String::from_utf8_lossy(body).into_owned(),
        })
    }
}

/// Tags as Sentry events carry them: an object, or a list of `[key, value]` pairs or
/// `{key, value}` objects.
pub(crate) fn tags_of(v: &serde_json::Value) -> BTreeMap<String, String> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = BTreeMap::new();
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone(), text(v));
            }
        }
        serde_json::Value::Array(list) => {
            for entry in list {
                match entry {
                    serde_json::Value::Array(pair) if pair.len() == 2 => {
                        out.insert(text(&pair[0]), text(&pair[1]));
                    }
                    serde_json::Value::Object(m) => {
                        if let (Some(k), Some(v)) = (m.get("key"), m.get("value")) {
                            out.insert(text(k), text(v));
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_matches_django_for_ascii() {
        assert_eq!(slugify("be-platform"), "be-platform");
        assert_eq!(slugify("  My  Project! 2 "), "my-project-2");
        assert_eq!(slugify("tt-neg-1a2b"), "tt-neg-1a2b");
    }

    #[test]
    fn new_project_body() {
        let p = NewProject::new("x y")
            .platform("rust")
            .event_throttle_rate(100);
        assert_eq!(
            p.to_json(),
            r#"{"name":"x y","platform":"rust","eventThrottleRate":100}"#
        );
        assert_eq!(p.effective_slug(), "x-y");
    }
}
