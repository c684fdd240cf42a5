//! Live-test support: the client from `GLITCHTIP_URL` + `GLITCHTIP_TOKEN_FILE`, one `skipped:`
//! line per test binary when they are unset, throwaway projects, and run ids.

#![allow(dead_code)]

use std::io::Write;
use std::sync::Once;
use std::time::Duration;

use telltale_glitchtip::{Client, NewProject, Project, RetryPolicy};

/// The organization and team the live server has (and the bootstrap test ensures).
pub const ORG: &str = "meridian";
pub const TEAM: &str = "backend";

static SKIP: Once = Once::new();

/// Prints one `skipped:` line that libtest does not capture.
pub fn skip(message: &str) {
    SKIP.call_once(|| {
        let line = format!("\nskipped: {message}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
    });
}

/// Prints a line of evidence (latencies, versions) that libtest does not capture.
pub fn note(message: &str) {
    let line = format!("{message}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The live client, or `None` (after one `skipped:` line) when the environment is unset.
pub fn client() -> Option<Client> {
    let token_set = std::env::var("GLITCHTIP_TOKEN_FILE").is_ok_and(|v| !v.is_empty())
        || std::env::var("GLITCHTIP_TOKEN").is_ok_and(|v| !v.is_empty());
    let builder = match Client::builder_from_env() {
        Ok(Some(b)) if token_set => b,
        Ok(_) => {
            skip("live GlitchTip tests (set GLITCHTIP_URL and GLITCHTIP_TOKEN_FILE)");
            return None;
        }
        Err(e) => panic!("GLITCHTIP_* settings are unusable: {e}"),
    };
    Some(
        builder
            .retry(RetryPolicy {
                max_attempts: 3,
                max_elapsed: Duration::from_secs(20),
                ..RetryPolicy::default()
            })
            .build()
            .expect("client"),
    )
}

/// A project of its own for a test that may poison it (bad keys block a project for 30 s) or
/// throttle it; deleted on drop of the guard's `delete`.
pub async fn throwaway(client: &Client, what: &str, throttle: Option<u32>) -> Project {
    let name = format!("tt-{what}-{}", &telltale_glitchtip::new_event_id()[..8]);
    let mut spec = NewProject::new(name).platform("rust");
    if let Some(rate) = throttle {
        spec = spec.event_throttle_rate(rate);
    }
    client
        .create_project(ORG, TEAM, &spec)
        .await
        .expect("create throwaway project")
}
