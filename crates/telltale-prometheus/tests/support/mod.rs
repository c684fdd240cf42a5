//! Test support: a tiny `/metrics` exporter served by the test itself, free loopback ports, and
//! child processes (Prometheus, node_exporter, VictoriaMetrics) that die with the test.

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Prints one `skipped:` line that libtest does not capture.
pub fn skip(message: &str) {
    let line = format!("\nskipped: {message}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// A free TCP port on 127.0.0.1 (bound, then released for a child to take).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A binary named by `env_var`, else found on `PATH` as `fallback`.
pub fn find_binary(env_var: &str, fallback: Option<&str>) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env_var) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let name = fallback?;
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// A child process killed on drop, with its output kept in a log file shown on request.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(program: &Path, args: &[String], log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
        Proc { child, log }
    }

    /// The last lines of the process's output, for failure messages.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "telltale-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serves fixed bodies on loopback: `/metrics` with a proper Content-Type, and
/// `/metrics-blank` with the same body and no Content-Type at all.
pub async fn serve_exposition(body: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut used = 0;
                while !buf[..used].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[used..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => used += n,
                    }
                    if used == buf.len() {
                        return;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..used]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let content_type = match path.as_str() {
                    "/metrics" => Some("text/plain; version=0.0.4; charset=utf-8"),
                    "/metrics-blank" => None,
                    _ => {
                        let _ = sock.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                        return;
                    }
                };
                let mut res = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                if let Some(ct) = content_type {
                    res.push_str(&format!("content-type: {ct}\r\n"));
                }
                res.push_str("\r\n");
                res.push_str(&body);
                let _ = sock.write_all(res.as_bytes()).await;
            });
        }
    });
    port
}

/// Polls `check` every 250 ms until it returns `Some` or `deadline` passes.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let stop = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= stop {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
