//! Test support: the shared helpers (skip lines, ports, child servers) plus a tiny `/metrics`
//! exporter served by the test itself.

#![allow(dead_code, unused_imports)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub use telltale_testsupport::{eventually, find_binary, free_port, skip, Proc, TempDir};

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
