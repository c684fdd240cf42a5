//! OTLP/HTTP response handling against a scripted in-process receiver: partial success is
//! reported and never resent, 429/502/503/504 are retried honouring `Retry-After`, 400 and
//! other statuses are not, `google.rpc.Status` bodies are decoded and proxy text kept.
//! (Retry and error paths only; the contract is checked against real receivers elsewhere.)

mod support;

use std::time::{Duration, Instant};

use support::{Reply, Scripted};
use telltale_otlp::{
    decode_http_body, encode_response, encode_status, Client, Compression, Encoding, Error,
    ErrorKind, LogRecord, Metric, RetryPolicy, RunTag, SignalKind, Span, Status, Synth,
};

const PB: &str = "application/x-protobuf";

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(20),
    }
}

fn client(url: &str) -> telltale_otlp::ClientBuilder {
    Client::builder(url).retry(fast_retries())
}

#[tokio::test]
async fn full_success_sends_one_protobuf_request_to_the_signal_path() {
    let rx = Scripted::start(vec![Reply::new(
        200,
        PB,
        encode_response::<LogRecord>(0, "", Encoding::Protobuf),
    )])
    .await;
    let mut synth = Synth::new(RunTag::new("r-ok"), "svc");
    let batch = synth.logs(5);
    let report = client(&rx.url)
        .build()
        .unwrap()
        .export(&batch)
        .await
        .unwrap();
    assert_eq!(
        (report.items, report.rejected(), report.attempts),
        (5, 0, 1)
    );
    assert!(report.response_decoded);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/logs");
    assert_eq!(reqs[0].header("content-type"), Some(PB));
    let got = decode_http_body::<LogRecord>(&reqs[0].body, PB, None).unwrap();
    assert_eq!(got, batch);
}

#[tokio::test]
async fn gzip_json_bodies_decode_on_the_receiver_side() {
    let rx = Scripted::start(vec![Reply::new(200, "application/json", "{}")]).await;
    let mut synth = Synth::new(RunTag::new("r-gz"), "svc");
    let batch = synth.trace(2);
    let c = client(&rx.url)
        .encoding(Encoding::Json)
        .compression(Compression::Gzip)
        .path(SignalKind::Traces, "/custom/traces")
        .build()
        .unwrap();
    let report = c.export(&batch).await.unwrap();
    assert_eq!(report.items, 3);
    let req = &rx.requests()[0];
    assert_eq!(req.path, "/custom/traces");
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    let got = decode_http_body::<Span>(
        &req.body,
        req.header("content-type").unwrap(),
        req.header("content-encoding"),
    )
    .unwrap();
    assert_eq!(got, batch);
}

#[tokio::test]
async fn partial_success_is_reported_and_never_resent() {
    for enc in [Encoding::Protobuf, Encoding::Json] {
        let body = encode_response::<Metric>(2, "2 data points are too old", enc);
        let rx = Scripted::start(vec![Reply::new(200, enc.content_type(), body)]).await;
        let mut synth = Synth::new(RunTag::new("r-partial"), "svc");
        let mut batch = synth.counter("c", 1.0);
        batch.resources.extend(synth.gauge("g", 2.0).resources);
        batch.resources.extend(synth.gauge("g", 3.0).resources);
        let report = client(&rx.url)
            .encoding(enc)
            .build()
            .unwrap()
            .export(&batch)
            .await
            .unwrap();
        let partial = report.partial_success.clone().unwrap();
        assert_eq!(partial.rejected, 2);
        assert_eq!(partial.error_message, "2 data points are too old");
        assert_eq!(
            (report.items, report.accepted(), report.attempts),
            (3, 1, 1)
        );
        assert_eq!(
            rx.requests().len(),
            1,
            "{enc:?}: the rejected part was resent"
        );
    }
}

#[tokio::test]
async fn retryable_statuses_are_retried_and_retry_after_is_honoured() {
    let status = encode_status(14, "ingester unavailable", None);
    let rx = Scripted::start(vec![
        Reply::new(503, PB, status).header("retry-after", "1"),
        Reply::new(429, "text/plain", "slow down"),
        Reply::new(502, "text/html", "<html>bad gateway</html>"),
        Reply::new(504, "text/plain", "gateway timeout"),
        Reply::new(200, PB, Vec::new()),
    ])
    .await;
    let mut synth = Synth::new(RunTag::new("r-retry"), "svc");
    let batch = synth.logs(1);
    let started = Instant::now();
    let report = client(&rx.url)
        .retry(RetryPolicy {
            max_attempts: 5,
            ..fast_retries()
        })
        .build()
        .unwrap()
        .export(&batch)
        .await
        .unwrap();
    assert_eq!(report.attempts, 5);
    assert!(!report.response_decoded || report.partial_success.is_none());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured ({:?})",
        started.elapsed()
    );
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 5);
    assert!(
        reqs.windows(2).all(|w| w[0].body == w[1].body),
        "retries resend the same body"
    );
}

#[tokio::test]
async fn bad_data_is_never_retried_and_its_status_is_decoded() {
    for (ct, body) in [
        (
            PB,
            encode_status(3, "field timeUnixNano is out of range", None),
        ),
        (
            "application/json",
            br#"{"code":3,"message":"field timeUnixNano is out of range"}"#.to_vec(),
        ),
    ] {
        let rx = Scripted::start(vec![Reply::new(400, ct, body)]).await;
        let mut synth = Synth::new(RunTag::new("r-400"), "svc");
        let err = client(&rx.url)
            .build()
            .unwrap()
            .export(&synth.logs(1))
            .await
            .unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{err}"));
        assert_eq!(api.status(), Status::Http(400));
        assert_eq!(api.kind(), ErrorKind::BadData);
        assert_eq!(api.message(), "field timeUnixNano is out of range");
        assert!(api.is_status_message());
        assert!(!err.is_retryable());
        assert_eq!(rx.requests().len(), 1, "a 400 was retried");
    }
}

#[tokio::test]
async fn other_errors_are_not_retried_and_proxy_text_is_kept() {
    for (status, kind) in [
        (500, ErrorKind::Other),
        (413, ErrorKind::TooLarge),
        (401, ErrorKind::Unauthorized),
        (404, ErrorKind::NotFound),
    ] {
        let rx = Scripted::start(vec![Reply::new(
            status,
            "text/html",
            "<html>nginx says no</html>\n",
        )])
        .await;
        let mut synth = Synth::new(RunTag::new("r-other"), "svc");
        let err = client(&rx.url)
            .build()
            .unwrap()
            .export(&synth.logs(1))
            .await
            .unwrap_err();
        let api = err.api().unwrap();
        assert_eq!((api.status(), api.kind()), (Status::Http(status), kind));
        assert_eq!(api.message(), "<html>nginx says no</html>");
        assert!(!api.is_status_message());
        assert_eq!(rx.requests().len(), 1, "{status} was retried");
    }
}

#[tokio::test]
async fn a_receiver_that_stays_down_exhausts_the_policy() {
    let rx = Scripted::start(vec![Reply::new(503, "text/plain", "overloaded")]).await;
    let mut synth = Synth::new(RunTag::new("r-down"), "svc");
    let err = client(&rx.url)
        .build()
        .unwrap()
        .export(&synth.logs(1))
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());
    assert_eq!(rx.requests().len(), 4);
    assert!(err.to_string().contains("503"), "{err}");
}

#[tokio::test]
async fn no_receiver_is_a_retryable_transport_error() {
    let port = support::free_port();
    let mut synth = Synth::new(RunTag::new("r-refused"), "svc");
    let err = client(&format!("http://127.0.0.1:{port}"))
        .retry(RetryPolicy {
            max_attempts: 2,
            ..fast_retries()
        })
        .build()
        .unwrap()
        .export(&synth.logs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
}
