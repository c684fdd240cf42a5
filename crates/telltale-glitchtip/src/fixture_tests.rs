//! Decoding and pagination tests on responses recorded, headers included, from a real GlitchTip
//! (`fixtures/glitchtip/<version>/`), and envelope parsing tests on envelopes real Sentry SDKs
//! produced (`fixtures/glitchtip/sdk-envelopes/`). They run in CI without a server.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use telltale_http::Answer;

use crate::client::{decode_json, decode_page};
use crate::error::ApiError;
use crate::ingest::decode_accepted;
use crate::pagination::Page;
use crate::types::WireProjectKey;
use crate::{
    ApiRoot, Compression, Envelope, ErrorKind, Event, EventJson, Issue, IssueStatus, Item,
    ItemType, Organization, Project, ServerSettings, Team,
};

const VERSION: &str = "5.1.0+master.c264800f";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/glitchtip")
}

/// Reads `NAME.response`: status line, headers, blank line, body (as `curl -i` wrote it).
fn load(name: &str) -> Answer {
    let path = root().join(VERSION).join(format!("{name}.response"));
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rest: &[u8] = &raw;
    loop {
        let split = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{name}: no blank line after the headers"));
        let head = String::from_utf8_lossy(&rest[..split]).into_owned();
        let body = &rest[split + 4..];
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no status line"));
        if status == 100 {
            rest = body;
            continue;
        }
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        return Answer {
            status,
            body: body.to_vec(),
            content_type: find("content-type"),
            retry_after: find("retry-after")
                .as_deref()
                .and_then(telltale_http::parse_retry_after),
            headers,
        };
    }
}

/// The request path recorded for an exchange in `INDEX.tsv`.
fn request_path(name: &str) -> String {
    let index = std::fs::read_to_string(root().join(VERSION).join("INDEX.tsv")).unwrap();
    index
        .lines()
        .find_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[0] == name).then(|| cols[2].to_owned())
        })
        .unwrap_or_else(|| panic!("{name} not in INDEX.tsv"))
}

fn ok<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let a = load(name);
    assert!(a.is_success(), "{name}: {}", a.status);
    decode_json(name, &a.body).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn page<T: serde::de::DeserializeOwned>(name: &str) -> Page<T> {
    let a = load(name);
    assert_eq!(a.status, 200, "{name}");
    decode_page(name, &a).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn err(name: &str) -> ApiError {
    let a = load(name);
    assert!(!a.is_success(), "{name}");
    ApiError::new(a.status, name, &a.body, a.retry_after)
}

#[test]
fn probes() {
    let s: ServerSettings = ok("00-settings");
    assert_eq!(s.version, VERSION);
    assert_eq!(s.server_time_zone, "UTC");
    let root: ApiRoot = ok("01-api-root-token");
    let auth = root.auth.unwrap();
    assert_eq!(auth.scopes.len(), 16);
    assert!(auth.has_scope("event:admin"));
    assert!(root.user.unwrap().is_active);
    let anon: ApiRoot = ok("02-api-root-anonymous");
    assert_eq!(
        (anon.version.as_str(), anon.user, anon.auth),
        ("0", None, None)
    );
}

#[test]
fn organizations_teams_projects_and_keys() {
    let orgs: Page<Organization> = page("10-organizations");
    assert!(orgs.items.iter().any(|o| o.slug == "meridian"));
    assert_eq!((orgs.next, orgs.max_hits), (None, Some(1000)));
    let detail: Organization = ok("11-organization-detail");
    assert!(detail.projects.iter().any(|p| p.slug == "be-platform"));
    assert_eq!(detail.teams[0].slug, "backend");
    assert!(detail.projects[0].teams.iter().any(|t| t.slug == "backend"));
    let teams: Page<Team> = page("12-organization-teams");
    assert!(teams.items[0].projects.iter().any(|p| p.slug == "be-pwa"));
    let team: Team = ok("13-team-detail");
    assert_eq!(team.slug, "backend");
    let projects: Page<Project> = page("14-projects");
    let platform = projects
        .items
        .iter()
        .find(|p| p.slug == "be-platform")
        .unwrap();
    assert_eq!(platform.organization.as_ref().unwrap().slug, "meridian");
    assert_eq!(platform.platform.as_deref(), Some("rust"));
    let _: Page<Project> = page("15-organization-projects");
    let _: Page<Project> = page("16-team-projects");
    let project: Project = ok("17-project-detail");
    assert_eq!((project.id, project.slug.as_str()), (1, "be-platform"));
    let keys: Page<WireProjectKey> = page("18-project-keys");
    assert_eq!(keys.hits, Some(1));
    let key = keys.items.into_iter().next().unwrap().into_key().unwrap();
    assert_eq!(key.project_id(), 1);
    assert_eq!(key.dsn().project_id(), 1);
    assert_eq!(key.dsn().base_url(), "http://127.0.0.1:8200/");
    assert!(!format!("{key:?}").contains("2222222222"));
}

#[test]
fn creates_and_deletes() {
    let org: Organization = ok("20-create-organization");
    assert!(org.slug.starts_with("tt-fixture-") && org.is_accepting_events);
    let team: Team = ok("21-create-team");
    assert_eq!(team.slug, "ops");
    let project: Project = ok("22-create-project");
    assert_eq!((project.name.as_str(), project.first_event), ("svc", None));
    let key: WireProjectKey = ok("23-create-key");
    let key = key.into_key().unwrap();
    assert_eq!((key.label(), key.project_id()), ("second", project.id));
    for name in [
        "26-delete-project",
        "27-delete-team",
        "28-delete-organization",
        "80-issue-delete",
    ] {
        let a = load(name);
        assert_eq!((a.status, a.body.len()), (204, 0), "{name}");
    }
}

#[test]
fn ingest_answers() {
    let a = load("30-store-ok");
    let id = decode_accepted("store", &a.body).unwrap().unwrap();
    assert_eq!(id.len(), 32);
    let a = load("31-envelope-ok");
    assert_eq!(
        decode_accepted("envelope", &a.body).unwrap().unwrap().len(),
        32
    );
    assert_eq!(decode_accepted("envelope", b"{}").unwrap(), None);
    assert_eq!(decode_accepted("security", b"").unwrap(), None);
}

#[test]
fn issues_page_through_python_set_link_headers() {
    let p1: Page<Issue> = page("40-issues-page1");
    let link = load("40-issues-page1").headers;
    let raw = &link.iter().find(|(k, _)| k == "link").unwrap().1;
    assert!(raw.starts_with("{'<") && raw.ends_with("'}"), "{raw}");
    // The cursor read from page 1 is the one page 2 was fetched with.
    let next = p1.next.clone().expect("page 1 has a next page");
    assert!(request_path("41-issues-page2").ends_with(&format!("cursor={}", next.as_str())));
    let p2: Page<Issue> = page("41-issues-page2");
    assert!(request_path("42-issues-page3")
        .ends_with(&format!("cursor={}", p2.next.clone().unwrap().as_str())));
    let p3: Page<Issue> = page("42-issues-page3");
    assert_eq!((p1.previous.is_some(), p3.next.is_none()), (false, true));
    assert!(p2.previous.is_some());
    let mut ids = BTreeSet::new();
    for p in [&p1, &p2, &p3] {
        assert_eq!(
            (p.items.len(), p.hits, p.max_hits),
            (1, Some(3), Some(1000))
        );
        ids.insert(p.items[0].id);
    }
    assert_eq!(ids.len(), 3);
    let by_count: Page<Issue> = page("43-issues-sort-count");
    assert_eq!(
        by_count.items.iter().map(|i| i.count).collect::<Vec<_>>(),
        [5, 1, 1]
    );
    assert_eq!(by_count.items[0].status, IssueStatus::Unresolved);
    assert_eq!(
        by_count.items[0].metadata.exception_type.as_deref(),
        Some("FixtureError")
    );
    let none: Page<Issue> = page("44-issues-no-match");
    assert_eq!((none.items.len(), none.hits, none.next), (0, Some(0), None));
}

#[test]
fn issue_events_page_and_both_key_cases_decode() {
    let issue: Issue = ok("45-issue-detail");
    assert_eq!(issue.count, 5);
    let mut seen = BTreeSet::new();
    let mut sizes = Vec::new();
    for name in [
        "46-issue-events-page1",
        "47-issue-events-page2",
        "48-issue-events-page3",
    ] {
        let p: Page<Event> = page(name);
        assert_eq!(p.hits, Some(5), "{name}");
        sizes.push(p.items.len());
        for e in &p.items {
            assert_eq!(e.group_id, Some(issue.id));
            assert!(e.tag("run").unwrap().starts_with("fixture-"));
            assert!(e
                .date_received
                .as_deref()
                .and_then(crate::parse_rfc3339)
                .is_some());
            assert!(seen.insert(e.event_id.clone()));
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert!(page::<Event>("48-issue-events-page3").next.is_none());
    // camelCase detail views.
    let latest: Event = ok("49-issue-latest-event");
    assert!(seen.contains(&latest.event_id));
    assert_eq!(latest.project_id, 1);
    assert!(latest.previous_event_id.is_some());
    let one: Event = ok("50-issue-event");
    assert_eq!(one.event_id, latest.event_id);
    let a = load("51-event-json");
    let json = EventJson::parse("json", &a.body).unwrap();
    assert_eq!(json.event_id, latest.event_id);
    assert_eq!(json.environment.as_deref(), Some("fixtures"));
    assert_eq!(json.release.as_deref(), Some("telltale-fixtures@1"));
    assert!(json.tags["run"].starts_with("fixture-"));
    for (name, status) in [
        ("52-issue-resolve", IssueStatus::Resolved),
        ("53-issue-ignore", IssueStatus::Ignored),
        ("54-issue-unresolve", IssueStatus::Unresolved),
    ] {
        let i: Issue = ok(name);
        assert_eq!((i.id, i.status), (issue.id, status), "{name}");
    }
}

#[test]
fn every_error_class_keeps_the_servers_words() {
    let cases: &[(&str, u16, ErrorKind, &str)] = &[
        (
            "24-create-project-missing-name",
            422,
            ErrorKind::Validation,
            "body.payload.name: Field required",
        ),
        (
            "25-create-project-malformed-json",
            400,
            ErrorKind::BadRequest,
            "Cannot parse request body",
        ),
        (
            "60-missing-token",
            401,
            ErrorKind::Unauthorized,
            "Unauthorized",
        ),
        (
            "61-invalid-token",
            401,
            ErrorKind::Unauthorized,
            "Unauthorized",
        ),
        (
            "62-unknown-organization",
            404,
            ErrorKind::NotFound,
            "Not Found",
        ),
        ("63-unknown-issue", 404, ErrorKind::NotFound, "Not Found"),
        (
            "64-invalid-cursor",
            422,
            ErrorKind::Validation,
            "query.cursor: Value error, Invalid cursor.",
        ),
        (
            "65-invalid-limit",
            422,
            ErrorKind::Validation,
            "query.limit: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "70-store-malformed-key",
            422,
            ErrorKind::Validation,
            "dsn key badly formed hexadecimal UUID string",
        ),
        (
            "71-store-malformed-json",
            400,
            ErrorKind::BadRequest,
            "Cannot parse request body",
        ),
        (
            "72-envelope-malformed-header",
            400,
            ErrorKind::BadRequest,
            "Invalid envelope header",
        ),
        (
            "73-store-wrong-key",
            401,
            ErrorKind::Unauthorized,
            "Invalid DSN",
        ),
        ("74-envelope-wrong-key", 403, ErrorKind::Forbidden, "Denied"),
        (
            "75-store-right-key-blocked",
            401,
            ErrorKind::Unauthorized,
            "Invalid DSN",
        ),
        (
            "76-store-throttled",
            429,
            ErrorKind::RateLimited,
            "Please retry later",
        ),
    ];
    for (name, status, kind, message) in cases {
        let e = err(name);
        assert_eq!(
            (e.status(), e.kind(), e.message()),
            (*status, *kind, *message),
            "{name}"
        );
    }
    assert_eq!(
        err("24-create-project-missing-name").fields()[0].field(),
        Some("name")
    );
    assert_eq!(
        err("64-invalid-cursor").fields()[0].kind.as_deref(),
        Some("value_error")
    );
    for name in [
        "73-store-wrong-key",
        "74-envelope-wrong-key",
        "75-store-right-key-blocked",
    ] {
        assert!(err(name).is_dsn_rejection(), "{name}");
    }
    let throttled = err("76-store-throttled");
    assert_eq!(throttled.retry_after(), Some(Duration::from_secs(600)));
    assert!(throttled.is_retryable());
    assert!(!err("73-store-wrong-key").is_retryable());
}

// ---- envelopes from real SDKs ----

struct Captured {
    name: String,
    content_encoding: Option<String>,
    query_auth: bool,
    envelope: Envelope,
    decoded_len: usize,
}

fn captured(sdk: &str) -> Vec<Captured> {
    let dir = root().join("sdk-envelopes").join(sdk);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".body").map(str::to_owned))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let body = std::fs::read(dir.join(format!("{name}.body"))).unwrap();
            let req = std::fs::read_to_string(dir.join(format!("{name}.request.txt"))).unwrap();
            let content_encoding = req.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-encoding")
                    .then(|| v.trim().to_owned())
            });
            let decoded =
                Compression::from_content_encoding(content_encoding.as_deref().unwrap_or(""))
                    .unwrap()
                    .decompress(&body, crate::DEFAULT_MAX_DECOMPRESSED)
                    .unwrap();
            let envelope = Envelope::decode(&body, content_encoding.as_deref())
                .unwrap_or_else(|e| panic!("{sdk}/{name}: {e}"));
            Captured {
                query_auth: req.lines().next().unwrap_or("").contains("sentry_key="),
                name,
                content_encoding,
                envelope,
                decoded_len: decoded.len(),
            }
        })
        .collect()
}

fn find<'a>(all: &'a [Captured], name: &str) -> &'a Captured {
    all.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn python_sdk_envelopes_parse() {
    let all = captured("python-sentry-sdk-2.75.0");
    assert_eq!(all.len(), 8);
    for c in &all {
        assert!(c.envelope.skipped().is_empty(), "{}", c.name);
        assert!(!c.query_auth, "the Python SDK sends X-Sentry-Auth");
        for item in c.envelope.items() {
            assert!(
                item.had_length(),
                "{}: the Python SDK writes lengths",
                c.name
            );
        }
    }
    let ex = find(&all, "exception-001");
    assert_eq!(ex.content_encoding.as_deref(), Some("gzip"));
    let ev = ex
        .envelope
        .item(&ItemType::Event)
        .unwrap()
        .event_summary()
        .unwrap();
    assert_eq!(ev.exception_type.as_deref(), Some("ZeroDivisionError"));
    assert_eq!(
        (ev.tags["run"].as_str(), ev.tags["seq"].as_str()),
        ("fixture-run", "1")
    );
    assert_eq!(ev.event_id.as_deref(), ex.envelope.event_id());
    assert_eq!(ev.environment.as_deref(), Some("fixtures"));
    let plain = find(&all, "uncompressed-001");
    assert_eq!(plain.content_encoding, None);
    let br = find(&all, "brotli-001");
    assert_eq!(br.content_encoding.as_deref(), Some("br"));
    assert!(br.envelope.item(&ItemType::Event).is_some());
    let large = find(&all, "large-001");
    assert!(large.decoded_len > 32 * 1024, "{}", large.decoded_len);
    let blob = &large.envelope.items()[0];
    assert!(blob.payload().len() > 32 * 1024);
    assert_eq!(
        blob.event_summary().unwrap().message.as_deref(),
        Some("python large event")
    );
    let att = find(&all, "attachment-001");
    let file = att.envelope.item(&ItemType::Attachment).unwrap();
    assert_eq!(file.filename(), Some("notes.bin"));
    assert_eq!(file.payload(), b"line one\nline two\n\x00\x01binary");
    let tx = find(&all, "transaction-001");
    let t = tx
        .envelope
        .item(&ItemType::Transaction)
        .unwrap()
        .event_summary()
        .unwrap();
    assert_eq!(t.transaction.as_deref(), Some("fixture-transaction"));
    let s = find(&all, "session-002");
    assert_eq!(s.envelope.items()[0].item_type(), ItemType::Session);
}

#[test]
fn javascript_sdk_envelopes_parse() {
    let all = captured("node-sentry-11.12.0");
    assert_eq!(all.len(), 14);
    let mut types = BTreeSet::new();
    for c in &all {
        assert!(c.envelope.skipped().is_empty(), "{}", c.name);
        assert!(
            c.query_auth,
            "the JavaScript SDK puts the key in the query string"
        );
        for item in c.envelope.items() {
            types.insert(item.item_type().as_str().to_owned());
            if item.item_type() != ItemType::Attachment {
                assert!(
                    !item.had_length(),
                    "{}: JSON items come without length",
                    c.name
                );
            }
        }
    }
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["attachment", "event", "session", "span"]
    );
    let ex = find(&all, "exception-002");
    let ev = ex.envelope.items()[0].event_summary().unwrap();
    assert_eq!(
        (ev.exception_type.as_deref(), ev.exception_value.as_deref()),
        (Some("TypeError"), Some("cannot divide by zero"))
    );
    assert_eq!(ev.tags["run"], "fixture-run");
    let large = find(&all, "large-002");
    assert_eq!(
        large.content_encoding.as_deref(),
        Some("gzip"),
        "gzip above 32 KiB"
    );
    assert!(large.decoded_len > 32 * 1024);
    for c in all.iter().filter(|c| c.name != "large-002") {
        assert_eq!(c.content_encoding, None, "{}: no gzip below 32 KiB", c.name);
    }
    let att = find(&all, "attachment-002");
    let file = att.envelope.item(&ItemType::Attachment).unwrap();
    assert!(file.had_length());
    assert_eq!(file.payload(), b"line\n\x00\x01\x02\n");
    let tx = find(&all, "transaction-001");
    assert_eq!(tx.envelope.items()[0].item_type(), ItemType::Span);
}

#[test]
fn real_envelopes_survive_a_rewrite_and_unknown_items_are_skipped() {
    for sdk in ["python-sentry-sdk-2.75.0", "node-sentry-11.12.0"] {
        for c in captured(sdk) {
            let mut env = c.envelope.clone();
            env.push(Item::new(ItemType::Unknown("future_item".into()), "x\ny"));
            for lengths in [crate::Lengths::Always, crate::Lengths::WhenNeeded] {
                let back = Envelope::parse(&env.to_bytes_with(lengths)).unwrap();
                assert_eq!(back.items(), c.envelope.items(), "{sdk}/{}", c.name);
                assert_eq!(back.headers(), c.envelope.headers());
                assert_eq!(back.skipped()[0].item_type, "future_item");
                assert_eq!(back.skipped()[0].length, 3);
            }
        }
    }
}
