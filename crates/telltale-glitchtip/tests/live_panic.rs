//! The crate docs' app-side example, run for real: a panic captured by the `sentry` crate's
//! panic integration (global hub, as an app sets it up) becomes a GlitchTip issue within 30 s.
//! Its own test binary, because it installs a process-wide panic hook.

mod support;

use std::time::{Duration, Instant};

use support::{note, ORG, TEAM};
use telltale_glitchtip::NewProject;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_panic_becomes_an_issue_within_30_seconds() {
    let Some(client) = support::client() else {
        return;
    };
    let (project, _) = client
        .ensure_project(ORG, TEAM, &NewProject::new("be-platform").platform("rust"))
        .await
        .unwrap();
    let (key, _) = client.ensure_key(ORG, &project.slug).await.unwrap();
    let dsn = key.dsn().clone();
    // The sentry crate's reqwest transport needs a process-wide rustls provider when built
    // without one (as this crate builds it); an app with default features has native-tls.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let run_id = telltale_glitchtip::new_run_id();
    let mut options = sentry::ClientOptions::default();
    options.release = Some("telltale-live-panic@1".into());
    let guard = sentry::init((dsn.expose(), options));
    sentry::configure_scope(|scope| scope.set_tag("run", &run_id));
    let started = Instant::now();
    let joined = std::thread::spawn(|| panic!("boom in the worker")).join();
    assert!(joined.is_err());
    let flushed = tokio::task::spawn_blocking(move || {
        let ok = guard.flush(Some(Duration::from_secs(5)));
        drop(guard);
        ok
    })
    .await
    .unwrap();
    assert!(flushed, "the SDK must flush");

    let issue = client
        .wait_for_tagged_issue(ORG, "run", &run_id, Duration::from_secs(30))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(issue.metadata.value.as_deref(), Some("boom in the worker"));
    assert!(waited < Duration::from_secs(30));
    let event = client.latest_event(issue.id).await.unwrap();
    assert_eq!(event.tag("run"), Some(run_id.as_str()));
    note(&format!(
        "panic → issue {} ({}) visible {:.2?} after the panic",
        issue.id, issue.title, waited
    ));
    client.delete_issue(issue.id).await.unwrap();
}
