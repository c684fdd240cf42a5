//! Live tests against a real Loki named by `LOKI_URL`: synthetic log records pushed to
//! `/otlp/v1/logs` as protobuf, JSON and gzip, read back with a LogQL query on the run's
//! structured metadata, every sequence number accounted for.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use telltale_loki::{Direction, Timestamp};
use telltale_otlp::{
    Client, Compression, Encoding, ErrorKind, LogRecord, RunTag, SignalKind, Status, Synth,
};

const SERVICE: &str = "telltale-otlp-live";

fn loki_url(test: &str) -> Option<String> {
    match std::env::var("LOKI_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            support::skip(&format!("{test}: no Loki to push to (set LOKI_URL)"));
            None
        }
    }
}

fn client(url: &str, encoding: Encoding, compression: Compression) -> Client {
    Client::builder(url)
        .path(SignalKind::Logs, "/otlp/v1/logs")
        .encoding(encoding)
        .compression(compression)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_arrives_with_its_tags_as_structured_metadata() {
    let Some(url) = loki_url("every_record_arrives_with_its_tags_as_structured_metadata") else {
        return;
    };
    let run = format!("loki-{}-{}", std::process::id(), support::free_port());
    let mut synth = Synth::new(RunTag::new(&run), SERVICE);
    let start = Timestamp::now().minus(Duration::from_secs(5));
    let mut sent = 0;
    for (encoding, compression) in [
        (Encoding::Protobuf, Compression::None),
        (Encoding::Json, Compression::None),
        (Encoding::Protobuf, Compression::Gzip),
        (Encoding::Json, Compression::Gzip),
    ] {
        let batch = synth.logs(5);
        let report = client(&url, encoding, compression)
            .export(&batch)
            .await
            .unwrap_or_else(|e| panic!("{encoding:?} {compression:?}: {e}"));
        assert_eq!((report.items, report.rejected()), (5, 0));
        sent += 5;
    }
    // service.name becomes the service_name label; record attributes become structured
    // metadata with dots replaced: telltale.run -> telltale_run.
    let run_label = RunTag::label_name(synth.tag().run_key());
    let seq_label = RunTag::label_name(synth.tag().seq_key());
    let query = format!(r#"{{service_name="{SERVICE}"}} | {run_label}="{run}""#);
    let reader = telltale_loki::Client::new(&url).unwrap();
    let mut seqs = BTreeSet::new();
    let found = support::eventually(Duration::from_secs(20), || async {
        let streams = reader
            .read_all(
                &query,
                start,
                Timestamp::now().plus(Duration::from_secs(5)),
                Direction::Forward,
                1000,
            )
            .await
            .unwrap();
        let entries: Vec<_> = streams.iter().flat_map(|s| &s.entries).collect();
        (entries.len() >= sent).then_some(streams)
    })
    .await
    .unwrap_or_else(|| panic!("{query}: fewer than {sent} entries arrived"));
    for stream in &found {
        assert_eq!(stream.labels.get("service_name"), Some(SERVICE));
        for e in &stream.entries {
            let meta = |k: &str| {
                e.structured_metadata
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(meta(&run_label), Some(run.as_str()));
            let seq: u64 = meta(&seq_label).unwrap().parse().unwrap();
            assert_eq!(e.line, format!("telltale {run} seq={seq}"));
            assert_eq!(meta("severity_text"), Some("INFO"));
            assert!(seqs.insert(seq), "seq {seq} arrived twice");
        }
    }
    assert_eq!(seqs, (0..sent as u64).collect::<BTreeSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_refusals_keep_its_words_and_are_not_retried() {
    let Some(url) = loki_url("loki_refusals_keep_its_words_and_are_not_retried") else {
        return;
    };
    let mut synth = Synth::new(RunTag::new("loki-refusal"), SERVICE);
    // A record from 1970 is older than Loki's reject_old_samples_max_age.
    let mut old = synth.logs(1);
    old.resources[0].scopes[0].items[0].time_unix_nano = 1_000_000_000;
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let err = client(&url, encoding, Compression::None)
            .export(&old)
            .await
            .unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{err}"));
        assert_eq!(
            (api.status(), api.kind()),
            (Status::Http(400), ErrorKind::BadData)
        );
        assert!(api.message().contains("too old"), "{}", api.message());
        assert!(api.is_status_message(), "Loki sends a google.rpc.Status");
        assert!(!err.is_retryable());
    }
    // Wrong path: a 404, not retried.
    let wrong = Client::builder(&url)
        .path(SignalKind::Logs, "/otlp/v1/nope")
        .build()
        .unwrap();
    let err = wrong.export(&synth.logs(1)).await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(
        (api.status(), api.kind()),
        (Status::Http(404), ErrorKind::NotFound)
    );
    // An empty batch is valid OTLP, but Loki 3.5 refuses it with 422 (not retryable).
    let err = client(&url, Encoding::Json, Compression::None)
        .export(&telltale_otlp::Batch::<LogRecord>::default())
        .await
        .unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.status(), Status::Http(422));
    assert!(api.message().contains("at least one valid stream"), "{api}");
    assert!(!err.is_retryable());
}
