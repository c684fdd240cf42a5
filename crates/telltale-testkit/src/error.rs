//! The crate's one error type. Causes from testcontainers, bollard and the GlitchTip client
//! travel as `source()`, never as public fields, so their upgrades never break callers.

use std::error::Error as StdError;

/// What went wrong starting or bootstrapping a stack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No container engine answered: neither `DOCKER_HOST` nor any well-known Docker or Podman
    /// socket. Tests treat this as "skip", never as "pass".
    #[error("reach a container engine: {reason} (tried {}); {}", .tried.join(", "), NO_ENGINE_HINT)]
    NoEngine {
        /// The endpoints probed, in order (`unix:///var/run/docker.sock`, …).
        tried: Vec<String>,
        /// Why the last one failed.
        reason: String,
    },
    /// The builder was asked for something that cannot run (a bad project name, a port that
    /// cannot be mapped).
    #[error("configure the stack: {0}")]
    Config(String),
    /// A container could not be created, started, or did not become ready in time. Its
    /// captured output is in `logs`.
    #[error("start {service}: {source}")]
    Start {
        /// The service (`loki`, `glitchtip-web`, …).
        service: String,
        /// The last lines the container printed, if any.
        logs: String,
        /// The engine's or the readiness check's own error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// GlitchTip started but could not be bootstrapped: the token could not be made, the
    /// organization, team, projects or keys could not be ensured, or the canary event never
    /// became visible.
    #[error("bootstrap glitchtip: {step}")]
    GlitchTip {
        /// Which step failed.
        step: String,
        /// Why.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A file the stack needs (the GlitchTip token file, the Grafana password file) could not
    /// be written.
    #[error("write {what}")]
    Io {
        /// What was being written.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// How to get an engine, printed with [`Error::NoEngine`] and by the skip line of the tests.
pub const NO_ENGINE_HINT: &str = "start Docker, or Podman's socket (`systemctl --user start podman.socket`), or point DOCKER_HOST at one";

impl Error {
    /// True when no container engine could be reached: the one error a test may turn into a
    /// visible skip.
    pub fn is_no_engine(&self) -> bool {
        matches!(self, Error::NoEngine { .. })
    }

    pub(crate) fn start(
        service: &str,
        logs: String,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Error {
        Error::Start {
            service: service.to_owned(),
            logs,
            source: source.into(),
        }
    }

    pub(crate) fn glitchtip(
        step: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Error {
        Error::GlitchTip {
            step: step.into(),
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_engine_names_what_was_tried_and_how_to_get_one() {
        let err = Error::NoEngine {
            tried: vec![
                "unix:///var/run/docker.sock".into(),
                "unix:///run/user/1000/podman/podman.sock".into(),
            ],
            reason: "no such file".into(),
        };
        let text = err.to_string();
        assert!(err.is_no_engine());
        assert!(
            text.contains("/var/run/docker.sock, unix:///run/user/1000/podman"),
            "{text}"
        );
        assert!(text.contains("DOCKER_HOST"), "{text}");
        assert!(!Error::Config("x".into()).is_no_engine());
    }
}
