//! Finding a container engine before testcontainers looks for one.
//!
//! testcontainers only tries `DOCKER_HOST` and Docker's own sockets, and it reports a missing
//! engine late, as a failed image pull. This module probes Docker's and Podman's sockets with
//! `GET /_ping` first, so `start()` fails at once with [`Error::NoEngine`] when there is none,
//! and Podman works without the caller setting `DOCKER_HOST`.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::OnceCell;

use crate::Error;

/// A container engine that answered `/_ping`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Engine {
    /// The endpoint, as `DOCKER_HOST` spells it (`unix:///run/podman/podman.sock`).
    pub(crate) endpoint: String,
    /// Where the engine publishes container ports: loopback for a local socket, the daemon's
    /// host for `tcp://`.
    pub(crate) host: String,
}

const PING_TIMEOUT: Duration = Duration::from_secs(3);

static ENGINE: OnceCell<Engine> = OnceCell::const_new();

/// The engine to use, probed once per process. On success without an explicit `DOCKER_HOST`,
/// `DOCKER_HOST` is set to the endpoint found, because testcontainers reads nothing else.
pub(crate) async fn engine() -> Result<Engine, Error> {
    ENGINE
        .get_or_try_init(|| async {
            let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
            let (candidates, explicit) = candidates(env);
            let found = find(&candidates).await?;
            if !explicit {
                // Set once, before the first testcontainers call reads it; nothing else in
                // this crate reads the environment concurrently. Edition 2021 keeps
                // `set_var` safe to call.
                std::env::set_var("DOCKER_HOST", &found.endpoint);
            }
            Ok(found)
        })
        .await
        .cloned()
}

/// The endpoints to probe, in order, and whether they came from `DOCKER_HOST`. An explicit
/// `DOCKER_HOST` is the only candidate: a user who names an engine means that one.
pub(crate) fn candidates(env: impl Fn(&str) -> Option<String>) -> (Vec<String>, bool) {
    if let Some(host) = env("DOCKER_HOST") {
        return (vec![host], true);
    }
    let mut res = vec!["unix:///var/run/docker.sock".to_owned()];
    let runtime = env("XDG_RUNTIME_DIR");
    let home = env("HOME");
    if let Some(dir) = &runtime {
        res.push(format!("unix://{dir}/docker.sock"));
    }
    if let Some(home) = &home {
        res.push(format!("unix://{home}/.docker/run/docker.sock"));
        res.push(format!("unix://{home}/.docker/desktop/docker.sock"));
    }
    if let Some(dir) = &runtime {
        res.push(format!("unix://{dir}/podman/podman.sock"));
    }
    res.push("unix:///run/podman/podman.sock".to_owned());
    let mut seen = std::collections::HashSet::new();
    res.retain(|c| seen.insert(c.clone()));
    (res, false)
}

/// The first candidate that answers `/_ping`, or [`Error::NoEngine`] naming all of them.
pub(crate) async fn find(candidates: &[String]) -> Result<Engine, Error> {
    let mut reason = String::from("no candidate endpoints");
    for endpoint in candidates {
        match ping(endpoint).await {
            Ok(host) => {
                return Ok(Engine {
                    endpoint: endpoint.clone(),
                    host,
                })
            }
            Err(why) => reason = format!("{endpoint}: {why}"),
        }
    }
    Err(Error::NoEngine {
        tried: candidates.to_vec(),
        reason,
    })
}

/// Pings one endpoint; returns the host its published ports are reached on.
async fn ping(endpoint: &str) -> Result<String, String> {
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| "not a URL (expected unix://… or tcp://…)".to_owned())?;
    match scheme {
        "unix" => {
            let stream = tokio::net::UnixStream::connect(rest)
                .await
                .map_err(|e| e.to_string())?;
            http_ping(stream).await?;
            Ok("127.0.0.1".to_owned())
        }
        "tcp" | "http" | "https" => {
            let authority = rest.split('/').next().unwrap_or(rest);
            let stream =
                tokio::time::timeout(PING_TIMEOUT, tokio::net::TcpStream::connect(authority))
                    .await
                    .map_err(|_| "timed out connecting".to_owned())?
                    .map_err(|e| e.to_string())?;
            // A TLS daemon cannot be pinged in plain text; a TCP connection is all we check.
            let tls =
                scheme == "https" || std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| v == "1");
            if !tls {
                http_ping(stream).await?;
            }
            Ok(host_of(authority))
        }
        other => Err(format!("unsupported scheme {other:?}")),
    }
}

fn host_of(authority: &str) -> String {
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        _ => authority.to_owned(),
    }
}

async fn http_ping<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Result<(), String> {
    let exchange = async {
        stream
            .write_all(b"GET /_ping HTTP/1.0\r\nHost: engine\r\n\r\n")
            .await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 256];
        while !head.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(PING_TIMEOUT, exchange)
        .await
        .map_err(|_| "timed out waiting for /_ping".to_owned())?
        .map_err(|e| e.to_string())?;
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    if status_line.starts_with("HTTP/1.") && status_line.split(' ').nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!("/_ping answered {status_line:?}, not 200"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn an_explicit_docker_host_is_the_only_candidate() {
        let (res, explicit) = candidates(env_of(&[
            ("DOCKER_HOST", "tcp://10.1.2.3:2375"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ]));
        assert_eq!(res, ["tcp://10.1.2.3:2375"]);
        assert!(explicit);
    }

    #[test]
    fn without_docker_host_docker_comes_before_podman() {
        let (res, explicit) = candidates(env_of(&[
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ("HOME", "/home/dev"),
        ]));
        assert!(!explicit);
        assert_eq!(
            res,
            [
                "unix:///var/run/docker.sock",
                "unix:///run/user/1000/docker.sock",
                "unix:///home/dev/.docker/run/docker.sock",
                "unix:///home/dev/.docker/desktop/docker.sock",
                "unix:///run/user/1000/podman/podman.sock",
                "unix:///run/podman/podman.sock",
            ]
        );
    }

    #[test]
    fn tcp_hosts_publish_ports_on_the_daemon_host() {
        assert_eq!(host_of("10.1.2.3:2375"), "10.1.2.3");
        assert_eq!(host_of("[fd7a::1]:2375"), "fd7a::1");
        assert_eq!(host_of("docker.local"), "docker.local");
    }

    #[tokio::test]
    async fn an_unreachable_engine_is_a_typed_error_naming_every_endpoint() {
        let dir = std::env::temp_dir().join(format!("telltale-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = format!("unix://{}/missing.sock", dir.display());
        // A port nothing listens on: bound, then released.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let tried = vec![
            missing.clone(),
            format!("tcp://127.0.0.1:{closed_port}"),
            "ssh://x".into(),
        ];
        let err = find(&tried).await.unwrap_err();
        match &err {
            Error::NoEngine {
                tried: listed,
                reason,
            } => {
                assert_eq!(listed, &tried);
                assert!(reason.contains("unsupported scheme"), "{reason}");
            }
            other => panic!("expected NoEngine, got {other:?}"),
        }
        assert!(err.is_no_engine());
        let err = find(&[missing]).await.unwrap_err();
        assert!(err.to_string().contains("missing.sock"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_socket_answering_ping_is_an_engine_and_one_answering_500_is_not() {
        let dir =
            std::env::temp_dir().join(format!("telltale-testkit-ping-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, answer, ok) in [
            (
                "ok.sock",
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK",
                true,
            ),
            (
                "bad.sock",
                "HTTP/1.1 500 Internal Server Error\r\n\r\n",
                false,
            ),
        ] {
            let path = dir.join(name);
            let _ = std::fs::remove_file(&path);
            let listener = tokio::net::UnixListener::bind(&path).unwrap();
            let server = tokio::spawn(async move {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 512];
                let n = conn.read(&mut buf).await.unwrap();
                assert!(buf[..n].starts_with(b"GET /_ping HTTP/1.0\r\n"));
                conn.write_all(answer.as_bytes()).await.unwrap();
            });
            let endpoint = format!("unix://{}", path.display());
            let res = find(std::slice::from_ref(&endpoint)).await;
            server.await.unwrap();
            match (res, ok) {
                (Ok(engine), true) => assert_eq!(
                    engine,
                    Engine {
                        endpoint,
                        host: "127.0.0.1".into()
                    }
                ),
                (Err(Error::NoEngine { reason, .. }), false) => {
                    assert!(reason.contains("not 200"), "{reason}")
                }
                (res, _) => panic!("{name}: unexpected {res:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
