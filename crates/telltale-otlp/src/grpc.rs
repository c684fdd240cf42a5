//! The OTLP/gRPC client (tonic): one unary `Export` call per batch, status codes mapped as the
//! OTLP specification says, `RetryInfo` honoured.
//!
//! Plaintext (h2c) only; TLS and `Auth` are not wired for gRPC yet (use [`GrpcClientBuilder::header`]
//! for a token).

use std::time::Duration;

use prost::Message;
use telltale_http::RetryPolicy;
use tonic::codec::CompressionEncoding;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::client::ExportReport;
use crate::codec::{self, Compression, RpcStatus, Signal};
use crate::error::ApiError;
use crate::model::Batch;
use crate::Error;

/// Builds a [`GrpcClient`].
#[derive(Debug, Clone)]
pub struct GrpcClientBuilder {
    url: String,
    retry: RetryPolicy,
    compression: Compression,
    timeout: Duration,
    connect_timeout: Duration,
    headers: Vec<(String, String)>,
}

impl GrpcClientBuilder {
    /// How failed exports are retried: the retryable codes of the specification, with
    /// `RetryInfo.retry_delay` as the minimum wait.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Message compression. Default none.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The deadline for one call. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The deadline for establishing a connection. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sends request metadata on every call (`authorization`, `x-scope-orgid`, …). Names are
    /// lowercased.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// Builds the client. Must run inside a Tokio runtime (tonic's channel spawns a task);
    /// the connection is opened on the first export.
    pub fn build(self) -> Result<GrpcClient, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::config(
                "the gRPC client must be built inside a Tokio runtime",
                None,
            ));
        }
        if !self.url.starts_with("http://") {
            return Err(Error::config(
                format!(
                    "gRPC endpoint {:?} must be http:// (TLS is not supported yet)",
                    self.url
                ),
                None,
            ));
        }
        let endpoint = Endpoint::from_shared(self.url.clone())
            .map_err(|e| {
                Error::config(
                    format!("invalid gRPC endpoint {:?}", self.url),
                    Some(Box::new(e)),
                )
            })?
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout);
        let mut metadata = Vec::new();
        for (name, value) in &self.headers {
            let key = AsciiMetadataKey::from_bytes(name.as_bytes()).map_err(|e| {
                Error::config(format!("invalid metadata name {name:?}"), Some(Box::new(e)))
            })?;
            let value = AsciiMetadataValue::try_from(value.as_str()).map_err(|e| {
                Error::config(
                    format!("invalid value for metadata {name}"),
                    Some(Box::new(e)),
                )
            })?;
            metadata.push((key, value));
        }
        Ok(GrpcClient {
            channel: endpoint.connect_lazy(),
            retry: self.retry,
            compression: self.compression,
            timeout: self.timeout,
            metadata,
        })
    }
}

/// An OTLP/gRPC client. Cheap to clone; clones share one HTTP/2 connection.
#[derive(Debug, Clone)]
pub struct GrpcClient {
    channel: Channel,
    retry: RetryPolicy,
    compression: Compression,
    timeout: Duration,
    metadata: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
}

impl GrpcClient {
    /// Starts configuring a client for the receiver at `url` (e.g. `http://127.0.0.1:4317`).
    pub fn builder(url: impl Into<String>) -> GrpcClientBuilder {
        GrpcClientBuilder {
            url: url.into(),
            retry: RetryPolicy::default(),
            compression: Compression::None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            headers: Vec::new(),
        }
    }

    /// Exports one batch in one `Export` call.
    ///
    /// `OK` is `Ok`, with any `partial_success` in the report (never resent). Retryable codes
    /// (`UNAVAILABLE`, `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`,
    /// `DATA_LOSS`, and `RESOURCE_EXHAUSTED` carrying `RetryInfo`) are retried under the
    /// policy; the others fail at once with [`Error::Api`].
    pub async fn export<T: Signal>(&self, batch: &Batch<T>) -> Result<ExportReport, Error> {
        let request = T::request(batch);
        let wire_bytes = request.encoded_len();
        let mut attempts = 0;
        let hint = |err: &Error| {
            err.is_retryable()
                .then(|| err.api().and_then(ApiError::retry_after))
        };
        let partial_success = self
            .retry
            .run(&mut attempts, || self.attempt::<T>(&request), hint)
            .await?;
        Ok(ExportReport {
            items: T::count(batch),
            partial_success,
            attempts,
            wire_bytes,
            response_decoded: true,
        })
    }

    async fn attempt<T: Signal>(
        &self,
        request: &T::Request,
    ) -> Result<Option<codec::PartialSuccess>, Error> {
        let method = T::KIND.grpc_method();
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        if self.compression == Compression::Gzip {
            grpc = grpc
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        grpc.ready().await.map_err(|e| Error::Transport {
            endpoint: method.to_owned(),
            source: Box::new(e),
        })?;
        let mut req = tonic::Request::new(request.clone());
        for (k, v) in &self.metadata {
            req.metadata_mut().insert(k.clone(), v.clone());
        }
        let codec = tonic_prost::ProstCodec::<T::Request, T::Response>::default();
        match grpc
            .unary(req, PathAndQuery::from_static(method), codec)
            .await
        {
            Ok(response) => Ok(codec::partial(T::partial_success(response.get_ref()))),
            Err(status) => Err(status_error(&status, method, self.timeout)),
        }
    }
}

/// Maps a gRPC status to the crate's error, reading `RetryInfo` from the status details.
///
/// tonic reports a connection that could not be made or was lost (refused, reset, keep-alive
/// timeout) as an `UNAVAILABLE` status it makes itself, carrying the failure as its source; a
/// status the receiver sent has none. Only the latter is an answer, so the former is
/// [`Error::Transport`]: no receiver said anything.
pub(crate) fn status_error(status: &tonic::Status, method: &str, timeout: Duration) -> Error {
    if status.code() == tonic::Code::Unavailable && std::error::Error::source(status).is_some() {
        return Error::Transport {
            endpoint: method.to_owned(),
            source: Box::new(status.clone()),
        };
    }
    let code = status.code() as i32;
    if status.code() == tonic::Code::Cancelled && status.message() == "Timeout expired" {
        return Error::Timeout {
            endpoint: method.to_owned(),
            timeout,
        };
    }
    let details = RpcStatus::decode(status.details()).ok();
    let retry_delay = details.as_ref().and_then(RpcStatus::retry_delay);
    let has_retry_info = details.as_ref().is_some_and(RpcStatus::has_retry_info);
    let mut api = ApiError::grpc(code, method, status.message().to_owned(), retry_delay);
    // RetryInfo without a delay still marks RESOURCE_EXHAUSTED as recoverable.
    api.retryable = crate::error::grpc_retryable(code, has_retry_info);
    Error::Api(api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_per_spec() {
        let t = Duration::from_secs(1);
        let unavailable = status_error(&tonic::Status::unavailable("down"), "m", t);
        assert!(unavailable.is_retryable());
        let bad = status_error(&tonic::Status::invalid_argument("bad"), "m", t);
        assert!(!bad.is_retryable());
        let plain_exhausted = status_error(&tonic::Status::resource_exhausted("full"), "m", t);
        assert!(!plain_exhausted.is_retryable());
        let details = codec::encode_status(8, "full", Some(Duration::from_secs(2)));
        let exhausted =
            tonic::Status::with_details(tonic::Code::ResourceExhausted, "full", details.into());
        let err = status_error(&exhausted, "m", t);
        assert!(err.is_retryable());
        assert_eq!(
            err.api().unwrap().retry_after(),
            Some(Duration::from_secs(2))
        );
        assert!(matches!(
            status_error(&tonic::Status::cancelled("Timeout expired"), "m", t),
            Error::Timeout { .. }
        ));
    }

    /// A port nothing listens on: tonic's own `UNAVAILABLE` is no answer from a receiver.
    #[tokio::test]
    async fn a_refused_connection_is_a_transport_error_not_an_answer() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = GrpcClient::builder(format!("http://127.0.0.1:{port}"))
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        let mut synth = crate::Synth::new(crate::RunTag::new("tt-refused"), "t");
        let err = client.export(&synth.trace(0)).await.unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert!(err.api().is_none());
    }
}
