//! A webhook receiver telltale runs itself: it answers 200 to every POST and keeps each body with
//! its arrival time, so a caller can prove what reached it, how often and when.
//!
//! `alert-delivery` receives Alertmanager's notifications with it; the `probe` tests receive the
//! probe's down/recovered alerts with it. It judges nothing: callers parse the bodies.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One POST the receiver answered.
#[derive(Debug, Clone)]
pub struct Post {
    /// When it arrived.
    pub at: Instant,
    /// The request path.
    pub path: String,
    /// The body, as sent.
    pub body: Vec<u8>,
}

/// A running receiver; it stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    posts: Arc<Mutex<Vec<Post>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Listens on `addr` (port 0 picks a free one). Must be called inside a Tokio runtime.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let posts: Arc<Mutex<Vec<Post>>> = Arc::default();
        let inbox = posts.clone();
        let app =
            axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
                let inbox = inbox.clone();
                async move {
                    inbox.lock().expect("never poisoned").push(Post {
                        at: Instant::now(),
                        path: uri.path().to_owned(),
                        body: body.to_vec(),
                    });
                    axum::http::StatusCode::OK
                }
            });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { addr, posts, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every POST so far, in arrival order.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().expect("never poisoned").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
