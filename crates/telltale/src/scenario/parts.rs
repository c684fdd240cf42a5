//! Scenarios that check several parts of the stack (retention: Loki, Prometheus, GlitchTip;
//! backup: Grafana, GlitchTip) check every part whatever another answered, then end with one
//! [`Stop`] that names every part that could not be checked.

use crate::report::{Problem, Status};

use super::Stop;

/// Prefixes a part's problem with the part's name, so merged problems say which is which.
pub(crate) fn named(part: &str, mut stop: Stop) -> Stop {
    stop.problem.message = format!("{part}: {}", stop.problem.message);
    stop
}

/// One [`Stop`] for several parts: the worst status (failed, then error, then unavailable), and
/// every part's problem in it; `Ok` when no part stopped.
pub(crate) fn merge(stops: impl IntoIterator<Item = Option<Stop>>) -> Result<(), Stop> {
    let stops: Vec<Stop> = stops.into_iter().flatten().collect();
    let rank = |s: Status| match s {
        Status::Failed => 3,
        Status::Error => 2,
        _ => 1,
    };
    let Some(status) = stops.iter().map(|s| s.status).max_by_key(|s| rank(*s)) else {
        return Ok(());
    };
    let join = |f: fn(&Stop) -> &str| {
        let mut parts: Vec<&str> = Vec::new();
        for s in &stops {
            if !parts.contains(&f(s)) {
                parts.push(f(s));
            }
        }
        parts.join("; ")
    };
    Err(Stop {
        status,
        problem: Problem {
            endpoint: join(|s| &s.problem.endpoint),
            message: join(|s| &s.problem.message),
            hint: join(|s| &s.problem.hint),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_of_several_parts_merge_worst_first_keeping_every_problem() {
        let merged = merge([
            Some(named(
                "loki",
                Stop::unavailable("http://l", "refused", "start it"),
            )),
            None,
            Some(named(
                "glitchtip",
                Stop::error("u", "unreadable", "run as root"),
            )),
        ])
        .unwrap_err();
        assert_eq!(merged.status, Status::Error);
        assert_eq!(
            merged.problem.message,
            "loki: refused; glitchtip: unreadable"
        );
        assert_eq!(merged.problem.hint, "start it; run as root");
        assert!(merge([None, None]).is_ok());
        let failed = merge([
            Some(Stop::unavailable("a", "b", "c")),
            Some(Stop::failed("d", "e", "f")),
        ])
        .unwrap_err();
        assert_eq!(failed.status, Status::Failed);
    }
}
