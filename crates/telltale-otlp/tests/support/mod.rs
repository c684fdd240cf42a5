//! Test support: the shared helpers (skip lines, ports, child servers), a VictoriaMetrics the
//! test starts, and a scripted in-process HTTP receiver for the retry and error paths.

#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub use telltale_testsupport::{eventually, find_binary, free_port, skip, Proc, TempDir};

/// A running VictoriaMetrics started by the test, or `None` (after a `skipped:` line) when
/// `VICTORIA_METRICS_BIN` is unset and `victoria-metrics` is not on `PATH`.
pub struct VictoriaMetrics {
    pub url: String,
    pub proc: Proc,
    _dir: TempDir,
}

impl VictoriaMetrics {
    pub async fn start(test: &str, extra_args: &[&str]) -> Option<VictoriaMetrics> {
        let Some(bin) = find_binary("VICTORIA_METRICS_BIN", Some("victoria-metrics")) else {
            skip(&format!(
                "{test}: no VictoriaMetrics binary (set VICTORIA_METRICS_BIN)"
            ));
            return None;
        };
        let dir = TempDir::new("vm");
        let port = free_port();
        let mut args = vec![
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.0.join("data").display()),
            "-search.latencyOffset=0s".to_owned(),
            "-search.disableCache".to_owned(),
        ];
        args.extend(extra_args.iter().map(|a| a.to_string()));
        let proc = Proc::spawn(&bin, &args, dir.0.join("vm.log"));
        let url = format!("http://127.0.0.1:{port}");
        let health = format!("{url}/health");
        let ready = eventually(Duration::from_secs(20), || async {
            let ok = http_get(&health)
                .await
                .is_some_and(|(status, _)| status == 200);
            ok.then_some(())
        })
        .await;
        assert!(
            ready.is_some(),
            "VictoriaMetrics did not start:\n{}",
            proc.tail()
        );
        Some(VictoriaMetrics {
            url,
            proc,
            _dir: dir,
        })
    }

    /// The series of an instant PromQL query: each as (labels, value).
    pub async fn query(
        &self,
        promql: &str,
    ) -> Vec<(serde_json::Map<String, serde_json::Value>, f64)> {
        let url = format!("{}/api/v1/query?query={}", self.url, url_encode(promql));
        let (status, body) = http_get(&url).await.expect("query VictoriaMetrics");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["metric"].as_object().unwrap().clone(),
                    s["value"][1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }
}

pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A plain HTTP/1.1 GET on loopback: (status, body).
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut sock = tokio::net::TcpStream::connect(host).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    sock.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    sock.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// One request the scripted receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// An in-process OTLP/HTTP receiver that answers from a script (the last answer repeats) and
/// records every request. For retry and error paths only, never for the contract.
pub struct Scripted {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Scripted {
    pub async fn start(script: Vec<Reply>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break 0,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                };
                if head_end == 0 {
                    continue;
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let mut lines = head.lines();
                let path = lines
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .unwrap_or("/")
                    .to_owned();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let body = buf[head_end..].to_vec();
                seen.lock().unwrap().push(Received {
                    path,
                    headers,
                    body,
                });
                let reply = script[n.min(script.len() - 1)].clone();
                n += 1;
                let mut res = format!(
                    "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (k, v) in &reply.headers {
                    res.push_str(&format!("{k}: {v}\r\n"));
                }
                res.push_str("\r\n");
                let mut bytes = res.into_bytes();
                bytes.extend_from_slice(&reply.body);
                let _ = sock.write_all(&bytes).await;
                let _ = sock.shutdown().await;
            }
        });
        Scripted { url, received }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
