//! OTLP/gRPC behaviour against an in-process tonic server: codes mapped per the specification,
//! `RESOURCE_EXHAUSTED` retried only with `RetryInfo`, partial success reported and not
//! resent, metadata and gzip sent. No real gRPC receiver runs here; these check the client's
//! retry and error paths only.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use telltale_otlp::{
    encode_status, Compression, Error, ErrorKind, GrpcClient, RetryPolicy, RunTag, Status, Synth,
};
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response};

type Script = Arc<Mutex<Vec<Result<i64, tonic::Status>>>>;
/// Per call: items received, the `x-scope-orgid` metadata, the `grpc-encoding` metadata.
type Seen = Arc<Mutex<Vec<(usize, Option<String>, Option<String>)>>>;

#[derive(Clone, Default)]
struct Fake {
    script: Script,
    seen: Seen,
}

impl Fake {
    fn next(&self) -> Result<i64, tonic::Status> {
        let mut s = self.script.lock().unwrap();
        if s.len() > 1 {
            s.remove(0)
        } else {
            match &s[0] {
                Ok(n) => Ok(*n),
                Err(st) => Err(tonic::Status::with_details(
                    st.code(),
                    st.message(),
                    st.details().to_vec().into(),
                )),
            }
        }
    }

    fn record<T>(&self, req: &Request<T>, items: usize) {
        let meta = |k: &str| {
            req.metadata()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        self.seen
            .lock()
            .unwrap()
            .push((items, meta("x-scope-orgid"), meta("grpc-encoding")));
    }
}

#[tonic::async_trait]
impl LogsService for Fake {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, tonic::Status> {
        let n: usize = request
            .get_ref()
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        self.record(&request, n);
        let rejected = self.next()?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: "too old".into(),
            }),
        }))
    }
}

#[tonic::async_trait]
impl TraceService for Fake {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, tonic::Status> {
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.record(&request, n);
        self.next()?;
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn serve(script: Vec<Result<i64, tonic::Status>>) -> (String, Fake) {
    let fake = Fake {
        script: Arc::new(Mutex::new(script)),
        ..Fake::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tonic::transport::Server::builder()
        .add_service(
            LogsServiceServer::new(fake.clone()).accept_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            TraceServiceServer::new(fake.clone()).accept_compressed(CompressionEncoding::Gzip),
        );
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(server.serve_with_incoming(incoming));
    (url, fake)
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(20),
    }
}

#[tokio::test]
async fn ok_and_partial_success_with_metadata_and_gzip() {
    let (url, fake) = serve(vec![Ok(0), Ok(2)]).await;
    let client = GrpcClient::builder(&url)
        .header("X-Scope-OrgID", "tenant-a")
        .compression(Compression::Gzip)
        .retry(policy())
        .build()
        .unwrap();
    let mut synth = Synth::new(RunTag::new("g-ok"), "svc");
    let report = client.export(&synth.logs(3)).await.unwrap();
    assert_eq!(
        (report.items, report.rejected(), report.attempts),
        (3, 0, 1)
    );
    let report = client.export(&synth.logs(5)).await.unwrap();
    assert_eq!(
        (report.rejected(), report.accepted(), report.attempts),
        (2, 3, 1)
    );
    let traces = client.export(&synth.trace(2)).await.unwrap();
    assert_eq!(traces.items, 3);
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "partial success must not be resent");
    assert_eq!(seen[0].0, 3);
    assert_eq!(seen[0].1.as_deref(), Some("tenant-a"));
    assert_eq!(seen[0].2.as_deref(), Some("gzip"));
    assert_eq!(seen[2].0, 3);
}

#[tokio::test]
async fn unavailable_is_retried_invalid_argument_is_not() {
    let (url, fake) = serve(vec![
        Err(tonic::Status::unavailable("restarting")),
        Err(tonic::Status::aborted("conflict")),
        Ok(0),
    ])
    .await;
    let client = GrpcClient::builder(&url).retry(policy()).build().unwrap();
    let mut synth = Synth::new(RunTag::new("g-retry"), "svc");
    let report = client.export(&synth.logs(1)).await.unwrap();
    assert_eq!(report.attempts, 3);

    let (url, fake2) = serve(vec![Err(tonic::Status::invalid_argument("bad span id"))]).await;
    let client = GrpcClient::builder(&url).retry(policy()).build().unwrap();
    let err = client.export(&synth.trace(0)).await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.status(), Status::Grpc(Code::InvalidArgument as i32));
    assert_eq!(api.kind(), ErrorKind::BadData);
    assert_eq!(api.message(), "bad span id");
    assert!(!err.is_retryable());
    assert_eq!(fake2.seen.lock().unwrap().len(), 1);
    assert_eq!(fake.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn resource_exhausted_is_retried_only_with_retry_info() {
    let (url, fake) = serve(vec![Err(tonic::Status::resource_exhausted("quota"))]).await;
    let client = GrpcClient::builder(&url).retry(policy()).build().unwrap();
    let mut synth = Synth::new(RunTag::new("g-exhausted"), "svc");
    let err = client.export(&synth.logs(1)).await.unwrap_err();
    assert_eq!(err.api().unwrap().kind(), ErrorKind::Throttled);
    assert!(!err.is_retryable());
    assert_eq!(fake.seen.lock().unwrap().len(), 1);

    let details = encode_status(8, "quota", Some(Duration::from_millis(700)));
    let (url, fake) = serve(vec![
        Err(tonic::Status::with_details(
            Code::ResourceExhausted,
            "quota",
            details.into(),
        )),
        Ok(0),
    ])
    .await;
    let client = GrpcClient::builder(&url).retry(policy()).build().unwrap();
    let started = Instant::now();
    let report = client.export(&synth.logs(1)).await.unwrap();
    assert_eq!(report.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "RetryInfo delay not honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(fake.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn no_server_is_unavailable_and_retryable() {
    let port = support::free_port();
    let client = GrpcClient::builder(format!("http://127.0.0.1:{port}"))
        .retry(RetryPolicy {
            max_attempts: 2,
            ..policy()
        })
        .build()
        .unwrap();
    let mut synth = Synth::new(RunTag::new("g-none"), "svc");
    let err = client.export(&synth.logs(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        matches!(&err, Error::Api(a) if a.status() == Status::Grpc(14))
            || matches!(err, Error::Transport { .. }),
        "{err:?}"
    );
}

#[test]
fn building_outside_a_runtime_or_with_tls_is_a_config_error() {
    assert!(matches!(
        GrpcClient::builder("http://127.0.0.1:4317").build(),
        Err(Error::Config { .. })
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert!(matches!(
            GrpcClient::builder("https://example.invalid:4317").build(),
            Err(Error::Config { .. })
        ));
    });
}
