//! Tests of [`Client::push_owned`] against an in-process fake Loki that answers from a script.
//!
//! The fake proves only our own paths (compact accounting, retries that resend just the entries
//! in doubt, the fallback for streams that need reshaping); what Loki itself answers is proven
//! by `tests/live.rs` against the real server, and the refusal texts below are Loki 3.5.12's
//! own, as recorded in `fixtures/loki/`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{
    decode_push, Client, Entry, EntryOutcome, EntryStatus, Error, ErrorKind, LabelSet, RetryPolicy,
    Stream, Timestamp,
};

/// What the fake received, and the answers it has left to give (then 204).
#[derive(Debug, Default)]
struct Fake {
    script: VecDeque<(u16, String)>,
    requests: Vec<Vec<Stream>>,
}

/// Starts the fake; returns its base URL and its shared state.
async fn fake(script: &[(u16, &str)]) -> (String, Arc<Mutex<Fake>>) {
    let state = Arc::new(Mutex::new(Fake {
        script: script.iter().map(|(s, b)| (*s, (*b).to_owned())).collect(),
        requests: Vec::new(),
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shared = Arc::clone(&state);
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(serve(conn, Arc::clone(&shared)));
        }
    });
    (url, state)
}

/// Answers HTTP/1.1 requests on one connection until the client closes it.
async fn serve(mut conn: TcpStream, state: Arc<Mutex<Fake>>) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let len: usize = header("content-length:").map_or(0, |v| v.parse().unwrap());
        let content_type = header("content-type:").unwrap_or_default();
        let content_encoding = header("content-encoding:");
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 65536];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..head_end + len).skip(head_end).collect();
        let streams = decode_push(&body, &content_type, content_encoding.as_deref()).unwrap();
        let (status, text) = {
            let mut state = state.lock().unwrap();
            state.requests.push(streams);
            state.script.pop_front().unwrap_or((204, String::new()))
        };
        let answer = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if conn.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn client(url: &str, max_line_size: Option<usize>) -> Client {
    Client::builder(url)
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_elapsed: Duration::from_secs(10),
        })
        .max_line_size(max_line_size)
        .build()
        .unwrap()
}

fn stream(job: &str, entries: &[(i64, &str)]) -> Stream {
    Stream::new(
        LabelSet::new([("job", job)]).unwrap(),
        entries
            .iter()
            .map(|(ts, line)| Entry::new(Timestamp::from_unix_nanos(*ts), *line))
            .collect(),
    )
}

/// Two streams, three entries; `b`'s entry is at 2026-11-22 03:47:43.876772093 UTC.
fn two_streams() -> Vec<Stream> {
    vec![
        stream(
            "a",
            &[
                (1_794_624_129_000_000_000, "old"),
                (1_795_319_263_000_000_000, "fine"),
            ],
        ),
        stream("b", &[(1_795_319_263_876_772_093, "rate-limited")]),
    ]
}

/// Runs the same script through `push_owned` and `push_accounted`, each against a fresh fake;
/// returns both accounts and what each fake received.
async fn both(
    script: &[(u16, &str)],
    streams: Vec<Stream>,
    max_line_size: Option<usize>,
) -> (
    Result<crate::PushSummary, Error>,
    Vec<Vec<Stream>>,
    Result<crate::PushReport, Error>,
    Vec<Vec<Stream>>,
) {
    let (url, owned_fake) = fake(script).await;
    let owned = client(&url, max_line_size)
        .push_owned(streams.clone())
        .await;
    let (url, accounted_fake) = fake(script).await;
    let accounted = client(&url, max_line_size).push_accounted(&streams).await;
    let owned_requests = std::mem::take(&mut owned_fake.lock().unwrap().requests);
    let accounted_requests = std::mem::take(&mut accounted_fake.lock().unwrap().requests);
    (owned, owned_requests, accounted, accounted_requests)
}

#[tokio::test]
async fn an_accepted_push_sends_once_and_lists_no_entry() {
    let streams = two_streams();
    let (owned, owned_requests, accounted, accounted_requests) =
        both(&[], streams.clone(), None).await;
    let summary = owned.unwrap();
    assert_eq!(
        (summary.total(), summary.accepted(), summary.attempts()),
        (3, 3, 1)
    );
    assert!(summary.exceptions().is_empty() && summary.is_complete());
    assert_eq!(summary.http_status(), Some(204));
    assert!(summary.request_bytes() > 0);
    assert_eq!(owned_requests, vec![streams]);
    assert_eq!(owned_requests, accounted_requests);
    assert_eq!(summary.into_report(), accounted.unwrap());
}

#[tokio::test]
async fn a_retry_resends_only_the_refused_entries() {
    // Loki 3.5.12's per-stream rate limit: refuses `b`'s entry, stores `a`'s (retryable, 429).
    let refusal = "entry with timestamp 2026-11-22 03:47:43.876772093 +0000 UTC ignored, reason: 'Per stream rate limit exceeded (limit: 2KB/sec) while attempting to ingest for stream '{job=\"b\", service_name=\"b\"}' totaling 3000B, consider splitting a stream via additional labels or contact your Loki administrator to see if the limit can be increased',\nuser 'fake', total ignored: 1 out of 1 for stream: {job=\"b\", service_name=\"b\"}";
    let streams = two_streams();
    let (owned, owned_requests, accounted, accounted_requests) =
        both(&[(429, refusal)], streams.clone(), None).await;
    let summary = owned.unwrap();
    assert!(summary.is_complete(), "{summary:?}");
    assert_eq!((summary.accepted(), summary.attempts()), (3, 2));
    assert_eq!(
        owned_requests,
        vec![streams.clone(), vec![streams[1].clone()]],
        "the second attempt carries only the refused stream's entry"
    );
    assert_eq!(owned_requests, accounted_requests);
    assert_eq!(summary.into_report(), accounted.unwrap());
}

#[tokio::test]
async fn a_final_partial_refusal_names_only_the_refused_entry() {
    // Recorded as 53-push-partial-valid-and-too-old: a 400 is final, nothing is resent.
    let refusal = "entry for stream '{job=\"a\", service_name=\"a\"}' has timestamp too old: 2026-11-14T02:42:09Z, oldest acceptable timestamp is: 2026-11-15T02:42:14Z\n";
    let (owned, owned_requests, accounted, _) = both(&[(400, refusal)], two_streams(), None).await;
    let summary = owned.unwrap();
    assert_eq!(
        (summary.total(), summary.accepted(), summary.rejected()),
        (3, 2, 1)
    );
    assert_eq!((summary.attempts(), summary.http_status()), (1, Some(400)));
    assert_eq!(owned_requests.len(), 1);
    let [EntryOutcome {
        stream: 0,
        entry: 0,
        status:
            EntryStatus::Rejected {
                kind: ErrorKind::TooOld,
                ..
            },
    }] = summary.exceptions()
    else {
        panic!("only a's first entry is refused: {summary:?}");
    };
    assert_eq!(summary.clone().into_report(), accounted.unwrap());
    let Err(Error::Rejected {
        rejected, total, ..
    }) = summary.into_result()
    else {
        panic!("a partial refusal is an error for into_result");
    };
    assert_eq!((rejected, total), (1, 3));
}

#[tokio::test]
async fn a_lost_request_is_resent_whole_and_a_spent_policy_leaves_entries_unknown() {
    let streams = two_streams();
    let (owned, owned_requests, _, _) = both(&[(503, "busy")], streams.clone(), None).await;
    let summary = owned.unwrap();
    assert_eq!((summary.accepted(), summary.attempts()), (3, 2));
    assert_eq!(owned_requests, vec![streams.clone(), streams.clone()]);

    let busy = [(503, "busy"), (503, "busy"), (503, "busy")];
    let (owned, owned_requests, accounted, _) = both(&busy, streams, None).await;
    let summary = owned.unwrap();
    assert_eq!((summary.unknown(), summary.attempts()), (3, 3));
    assert_eq!(owned_requests.len(), 3);
    assert_eq!(summary.into_report(), accounted.unwrap());
}

#[tokio::test]
async fn streams_that_need_reshaping_take_the_accounted_path() {
    // Two streams with one label set and an over-long line: merged, and the line kept back.
    let streams = vec![
        stream("a", &[(1, "short"), (2, "far too long a line")]),
        stream("b", &[(3, "b")]),
        stream("a", &[(4, "again")]),
    ];
    let (owned, owned_requests, accounted, accounted_requests) = both(&[], streams, Some(10)).await;
    let summary = owned.unwrap();
    assert_eq!(
        (summary.total(), summary.accepted(), summary.not_sent()),
        (4, 3, 1)
    );
    assert!(matches!(
        summary.exceptions(),
        [EntryOutcome {
            stream: 0,
            entry: 1,
            status: EntryStatus::NotSent { .. }
        }]
    ));
    assert_eq!(owned_requests, accounted_requests);
    assert_eq!(
        owned_requests[0].len(),
        2,
        "the two `a` streams went as one"
    );
    assert_eq!(summary.into_report(), accounted.unwrap());
}

#[tokio::test]
async fn a_permanent_refusal_is_an_error() {
    let (owned, owned_requests, accounted, _) =
        both(&[(401, "no org id")], two_streams(), None).await;
    assert!(
        matches!(owned, Err(Error::Api(ref api)) if api.status() == 401),
        "{owned:?}"
    );
    assert!(accounted.is_err());
    assert_eq!(owned_requests.len(), 1);
}
