//! Live tests against a real Loki 3.x named by `LOKI_URL`; each prints one `skipped:` line when
//! it is unset.
//!
//! Every test tags its streams with a fresh `run` label, so tests can share one server and run
//! in parallel.

use std::collections::BTreeMap;
use std::time::Duration;

use telltale_loki::{
    BatchConfig, BatchPusher, Client, Direction, Entry, EntryStatus, Error, ErrorKind, LabelLimits,
    LabelSet, PushEncoding, QueryResult, RangeQuery, RetryPolicy, Selector, Stream, TailOptions,
    Timestamp, VolumeOptions,
};

fn client_with(
    f: impl FnOnce(telltale_loki::ClientBuilder) -> telltale_loki::ClientBuilder,
    test: &str,
) -> Option<Client> {
    match Client::builder_from_env().expect("LOKI_* settings are readable") {
        Some(builder) => Some(f(builder).build().expect("client builds")),
        None => {
            // Written whole to the stderr handle: libtest captures `println!`, and a skip must show.
            use std::io::Write;
            let line = format!("\nskipped: live Loki test {test} (set LOKI_URL)\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

fn client(test: &str) -> Option<Client> {
    client_with(|b| b, test)
}

fn run_id(test: &str) -> String {
    format!(
        "{test}-{}-{}",
        std::process::id(),
        Timestamp::now().unix_nanos() % 1_000_000_000
    )
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    LabelSet::new(pairs.iter().copied()).unwrap()
}

/// Lines read back for one run, in time order, with their stream and metadata (Loki-added
/// metadata such as `detected_level` removed).
async fn read_run(
    client: &Client,
    run: &str,
    since: Timestamp,
    page: u32,
) -> Vec<(LabelSet, Entry)> {
    let query = Selector::new().eq("run", run).unwrap().logs();
    let streams = client
        .read_all(
            &query,
            since,
            Timestamp::now().plus(Duration::from_secs(1)),
            Direction::Forward,
            page,
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    for s in streams {
        for e in s.entries {
            let meta = e
                .structured_metadata
                .into_iter()
                .filter(|(k, _)| k != "detected_level")
                .collect();
            out.push((
                s.labels.clone(),
                Entry {
                    timestamp: e.timestamp,
                    line: e.line,
                    structured_metadata: meta,
                },
            ));
        }
    }
    out.sort_by_key(|(_, e)| e.timestamp);
    out
}

#[tokio::test]
async fn pushes_both_encodings_and_reads_everything_back_exactly() {
    let Some(base) = client("pushes_both_encodings_and_reads_everything_back_exactly") else {
        return;
    };
    let run = run_id("roundtrip");
    let start = Timestamp::now().minus(Duration::from_secs(30));
    // Values that stress quoting: quotes, backslashes, a newline, non-ASCII.
    let odd = "q\"uo\\te\nné中😀";
    let mut sent = Vec::new();
    for (enc_idx, encoding) in [
        PushEncoding::Protobuf,
        PushEncoding::Json { gzip: false },
        PushEncoding::Json { gzip: true },
    ]
    .into_iter()
    .enumerate()
    {
        let client = client_with(|b| b.encoding(encoding), "roundtrip").expect("LOKI_URL is set");
        let enc_name = format!("enc{enc_idx}");
        let streams: Vec<Stream> = (0..2)
            .map(|s| {
                let set = labels(&[
                    ("run", &run),
                    ("enc", &enc_name),
                    ("shard", &s.to_string()),
                    ("odd", odd),
                ]);
                let entries = (0..1200)
                    .map(|i| {
                        let ts = start.plus(Duration::from_nanos(
                            (enc_idx * 10_000_000 + s * 1_000_000 + i * 7) as u64,
                        ));
                        let mut e = Entry::new(
                            ts,
                            format!("line {i} of {enc_name}/{s} {odd} {}", "p".repeat(i % 50)),
                        );
                        if i % 3 == 0 {
                            // Loki's JSON path stores metadata escapes verbatim, so the client refuses
                            // them there (see json_metadata_with_escapes_is_refused_not_corrupted).
                            let meta = if encoding == PushEncoding::Protobuf {
                                odd
                            } else {
                                "né中😀 plain"
                            };
                            e = e
                                .with_metadata("trace_id", format!("t{i}"))
                                .with_metadata("odd_meta", meta);
                        }
                        e
                    })
                    .collect();
                Stream::new(set, entries)
            })
            .collect();
        let report = client.push(&streams).await.unwrap();
        assert_eq!(report.accepted(), 2400, "{encoding:?}");
        assert_eq!(report.http_status(), Some(204));
        for s in streams {
            for e in s.entries {
                sent.push((s.labels.clone(), e));
            }
        }
    }
    sent.sort_by_key(|(_, e)| e.timestamp);
    // Pages of 1000 force paging over 7200 lines.
    let mut got = read_run(&base, &run, start, 1000).await;
    // Loki adds `service_name`; compare the labels we sent.
    for (labels, _) in &mut got {
        let kept: BTreeMap<String, String> = labels
            .iter()
            .filter(|(k, _)| *k != "service_name")
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        *labels = LabelSet::new(kept).unwrap();
    }
    let mut want = sent.clone();
    for (_, e) in &mut want {
        e.structured_metadata.sort();
    }
    for (_, e) in &mut got {
        e.structured_metadata.sort();
    }
    assert_eq!(got.len(), want.len());
    if let Some(idx) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "first difference at {idx}:\n got {:?}\nwant {:?}",
            got[idx], want[idx]
        );
    }

    // The same data paged backwards.
    let query = Selector::new().eq("run", &run).unwrap().logs();
    let back = base
        .read_all(&query, start, Timestamp::now(), Direction::Backward, 700)
        .await
        .unwrap();
    assert_eq!(back.iter().map(|s| s.entries.len()).sum::<usize>(), 7200);
    assert!(back.iter().all(|s| s
        .entries
        .windows(2)
        .all(|w| w[0].timestamp >= w[1].timestamp)));
}

#[tokio::test]
async fn labels_series_metrics_and_stats() {
    let Some(client) = client("labels_series_metrics_and_stats") else {
        return;
    };
    let run = run_id("meta");
    let now = Timestamp::now();
    let streams: Vec<Stream> = ["a", "b"]
        .iter()
        .map(|env| {
            Stream::new(
                labels(&[("run", &run), ("env", env)]),
                (0..50)
                    .map(|i| {
                        Entry::new(
                            now.minus(Duration::from_millis(50 - i)),
                            format!("{env} {i}"),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    client.push(&streams).await.unwrap();
    let (from, to) = (
        now.minus(Duration::from_secs(300)),
        Timestamp::now().plus(Duration::from_secs(1)),
    );

    let names = client.labels(from, to, None).await.unwrap();
    assert!(names.contains(&"run".to_owned()), "{names:?}");
    let values = client
        .label_values("env", from, to, Some(&format!("{{run=\"{run}\"}}")))
        .await
        .unwrap();
    assert_eq!(values, vec!["a".to_owned(), "b".to_owned()]);
    assert!(client
        .label_values("never_seen_label", from, to, None)
        .await
        .unwrap()
        .is_empty());

    let selector = format!("{{run=\"{run}\"}}");
    let series = client.series(&[&selector], from, to).await.unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    assert!(series.iter().all(|s| s.get("run") == Some(&run)));

    let q = Selector::new().eq("run", &run).unwrap().logs();
    let metric = q
        .count_over_time(Duration::from_secs(600))
        .sum_by(&["env"])
        .unwrap();
    let instant = client.query(&metric, Some(to), None).await.unwrap();
    let QueryResult::Vector(v) = &instant.result else {
        panic!("vector expected, got {:?}", instant.result)
    };
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|s| s.samples[0].value == 50.0), "{v:?}");
    assert!(instant.stats.summary.exec_time > 0.0);

    let range = client
        .query_range(&RangeQuery::new(&metric, from, to).step(Duration::from_secs(30)))
        .await
        .unwrap();
    let QueryResult::Matrix(m) = &range.result else {
        panic!("matrix expected")
    };
    assert_eq!(m.len(), 2);

    let logs = client
        .query_range(
            &RangeQuery::new(&q, from, to)
                .limit(10)
                .direction(Direction::Forward),
        )
        .await
        .unwrap();
    assert_eq!(logs.result.entry_count(), 10);
    assert!(
        logs.stats.summary.total_lines_processed >= 10.0
            || logs.stats.ingester.total_lines_sent >= 10.0,
        "{:?}",
        logs.stats
    );

    // Index stats leave out ingester data, so only the call and shape are checked here.
    client.index_stats(&selector, from, to).await.unwrap();
    let vol = client
        .index_volume(&selector, from, to, &VolumeOptions::default())
        .await
        .unwrap();
    assert!(matches!(vol.result, QueryResult::Vector(_)), "{vol:?}");
}

#[tokio::test]
async fn tail_sees_new_lines() {
    let Some(client) = client("tail_sees_new_lines") else {
        return;
    };
    let run = run_id("tail");
    let set = labels(&[("run", &run)]);
    let mut tail = client
        .tail(Selector::from(&set).logs(), &TailOptions::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let now = Timestamp::now();
    let entries: Vec<Entry> = (0..20)
        .map(|i| Entry::new(now.plus(Duration::from_micros(i)), format!("tail {i}")))
        .collect();
    client
        .push(&[Stream::new(set.clone(), entries)])
        .await
        .unwrap();
    let frames = tail
        .collect_until(Duration::from_secs(15), |frames| {
            frames.iter().flat_map(|f| f.entries_for(&set)).count() >= 20
        })
        .await
        .unwrap();
    let lines: Vec<&str> = frames
        .iter()
        .flat_map(|f| f.entries_for(&set))
        .map(|e| e.line.as_str())
        .collect();
    let want: Vec<String> = (0..20).map(|i| format!("tail {i}")).collect();
    assert_eq!(lines, want);
    tail.close().await.unwrap();
}

#[tokio::test]
async fn batch_pusher_accounts_for_every_entry() {
    let Some(client) = client("batch_pusher_accounts_for_every_entry") else {
        return;
    };
    let run = run_id("batch");
    let set = labels(&[("run", &run)]);
    let start = Timestamp::now();
    let pusher = BatchPusher::spawn(
        client.clone(),
        BatchConfig {
            max_bytes: 64 * 1024,
            max_age: Duration::from_millis(200),
        },
    );
    for i in 0..3000 {
        pusher
            .send(
                &set,
                Entry::new(
                    start.plus(Duration::from_micros(i)),
                    format!("batched {i} {}", "x".repeat(80)),
                ),
            )
            .await
            .unwrap();
    }
    let totals = pusher.finish().await.unwrap();
    assert!(totals.is_balanced());
    assert_eq!(
        (totals.submitted, totals.accepted),
        (3000, 3000),
        "{:?}",
        (totals.rejected.first(), totals.unknown.first())
    );
    assert!(
        totals.batches >= 4,
        "64 KiB batches of ~90-byte lines: {}",
        totals.batches
    );
    assert_eq!(
        read_run(&client, &run, start.minus(Duration::from_secs(1)), 5000)
            .await
            .len(),
        3000
    );
}

/// Pushes one stream and returns each entry's rejection kind (`None` for accepted).
async fn push_kinds(
    client: &Client,
    labels: LabelSet,
    entries: Vec<Entry>,
) -> Vec<Option<ErrorKind>> {
    let report = client
        .push_accounted(&[Stream::new(labels, entries)])
        .await
        .unwrap();
    assert_eq!(report.unknown() + report.not_sent(), 0, "{report:?}");
    report
        .outcomes()
        .iter()
        .map(|o| o.status.rejection_kind())
        .collect()
}

#[tokio::test]
async fn rejections_are_typed_and_partial_pushes_keep_valid_entries() {
    let Some(client) = client_with(
        |b| b.max_line_size(None).retry(RetryPolicy::none()),
        "rejections_are_typed_and_partial_pushes_keep_valid_entries",
    ) else {
        return;
    };
    let run = run_id("reject");
    let now = Timestamp::now();
    let day = Duration::from_secs(86_400);
    let case = |name: &str| labels(&[("run", &run), ("case", name)]);
    let ns = |n: u64| now.plus(Duration::from_nanos(n));

    // Too old (past reject_old_samples_max_age, 1w by default) beside a valid entry; `push`
    // reports the partial rejection as a typed error carrying the per-entry report.
    let err = client
        .push(&[Stream::new(
            case("old"),
            vec![
                Entry::new(now.minus(day * 8), "too old"),
                Entry::new(now, "fine"),
            ],
        )])
        .await
        .unwrap_err();
    let Error::Rejected {
        rejected: 1,
        total: 2,
        report,
        ..
    } = err
    else {
        panic!("expected one rejection, got {err}")
    };
    let kinds: Vec<_> = report
        .outcomes()
        .iter()
        .map(|o| o.status.rejection_kind())
        .collect();
    assert_eq!(kinds, [Some(ErrorKind::TooOld), None]);

    // Too new (past creation_grace_period).
    let got = push_kinds(
        &client,
        case("new"),
        vec![Entry::new(now.plus(day), "future")],
    )
    .await;
    assert_eq!(got, [Some(ErrorKind::TooNew)]);

    // Line too long, refused by the server since the client's own check is off.
    let long = Entry::new(now, "l".repeat(300 * 1024));
    let got = push_kinds(
        &client,
        case("long"),
        vec![long, Entry::new(ns(1), "short")],
    )
    .await;
    assert_eq!(got, [Some(ErrorKind::LineTooLong), None]);

    // Entry too far behind the newest entry of its stream.
    client
        .push(&[Stream::new(case("behind"), vec![Entry::new(now, "newest")])])
        .await
        .unwrap();
    let late = Entry::new(now.minus(Duration::from_secs(3 * 3600)), "late");
    let got = push_kinds(
        &client,
        case("behind"),
        vec![late, Entry::new(ns(5), "on time")],
    )
    .await;
    assert_eq!(got, [Some(ErrorKind::TooFarBehind), None]);

    // Label limits enforced by the server when the client is told to allow more.
    let loose = LabelLimits {
        max_names: 100,
        max_name_len: 4096,
        max_value_len: 8192,
    };
    let names = (0..17).map(|i| (format!("l{i:02}"), "v".to_owned()));
    let many =
        LabelSet::with_limits(names.chain([("run".to_owned(), run.clone())]), loose).unwrap();
    let got = push_kinds(&client, many, vec![Entry::new(now, "x")]).await;
    assert_eq!(got, [Some(ErrorKind::TooManyLabels)]);
    let big =
        LabelSet::with_limits([("run", run.as_str()), ("big", &"v".repeat(3000))], loose).unwrap();
    let got = push_kinds(&client, big, vec![Entry::new(now, "x")]).await;
    assert_eq!(got, [Some(ErrorKind::LabelValueTooLong)]);

    // Nothing rejected was stored; everything accepted was.
    let stored: Vec<String> = read_run(&client, &run, now.minus(day * 9), 1000)
        .await
        .into_iter()
        .map(|(_, e)| e.line)
        .collect();
    assert_eq!(stored.len(), 4, "{stored:?}");
    for line in ["fine", "short", "newest", "on time"] {
        assert!(
            stored.iter().any(|l| l == line),
            "{line} missing from {stored:?}"
        );
    }
}

#[tokio::test]
async fn query_errors_are_typed() {
    let Some(client) = client_with(|b| b.retry(RetryPolicy::none()), "query_errors_are_typed")
    else {
        return;
    };
    let now = Timestamp::now();
    let hour_ago = now.minus(Duration::from_secs(3600));
    let kind =
        |r: Result<telltale_loki::QueryResponse, Error>| r.unwrap_err().api().map(|a| a.kind());
    assert_eq!(
        kind(
            client
                .query_range(&RangeQuery::new("{job=\"x\"", hour_ago, now))
                .await
        ),
        Some(ErrorKind::QueryParse)
    );
    assert_eq!(
        kind(
            client
                .query_range(&RangeQuery::new("{job=\"x\"}", hour_ago, now).limit(100_000))
                .await
        ),
        Some(ErrorKind::QueryLimit)
    );
    assert_eq!(
        kind(
            client
                .query_range(&RangeQuery::new("{job=\"x\"}", now, hour_ago))
                .await
        ),
        Some(ErrorKind::BadParameter)
    );
    // Log queries are refused on the instant endpoint.
    let err = client.query("{job=\"x\"}", None, None).await.unwrap_err();
    assert_eq!(err.api().map(|a| a.status()), Some(400), "{err}");
}

#[tokio::test]
async fn status_endpoints_and_config() {
    let Some(client) = client("status_endpoints_and_config") else {
        return;
    };
    assert!(client.ready().await.unwrap());
    client.wait_ready(Duration::from_secs(5)).await.unwrap();
    let info = client.build_info().await.unwrap();
    // Source builds without the release ldflags report an empty goVersion, so only the version is required.
    assert!(
        !info.version.is_empty() && !info.revision.is_empty(),
        "{info:?}"
    );
    let cfg = client.server_config().await.unwrap();
    assert!(
        cfg.limits.max_line_size > 0 && cfg.limits.max_entries_limit_per_query > 0,
        "{cfg:?}"
    );
    assert_eq!(cfg.limits.max_label_names_per_series, 15);
    if let Ok(days) = std::env::var("LOKI_EXPECT_RETENTION_DAYS") {
        let days: u64 = days
            .parse()
            .expect("LOKI_EXPECT_RETENTION_DAYS is a number");
        assert_eq!(
            cfg.enforced_retention(),
            Some(Duration::from_secs(days * 86_400)),
            "{cfg:?}"
        );
    }
    // A wrong base path is a typed 404, not a decode failure.
    let nope = format!("{}nope", client.base_url());
    let wrong = client_with(
        |b| b.base_url(nope).retry(RetryPolicy::none()),
        "status_endpoints_and_config",
    )
    .expect("LOKI_URL is set");
    let err = wrong.build_info().await.unwrap_err();
    assert_eq!(
        err.api().map(|a| a.kind()),
        Some(ErrorKind::NotFound),
        "{err}"
    );
}

#[tokio::test]
async fn rate_limit_is_a_typed_rejection() {
    let Some(client) = client_with(
        |b| {
            b.retry(RetryPolicy::none())
                .encoding(PushEncoding::Json { gzip: true })
        },
        "rate_limit_is_a_typed_rejection",
    ) else {
        return;
    };
    let run = run_id("rate");
    let now = Timestamp::now();
    // About 7 MiB in one request: over the default 6 MiB burst, so the distributor refuses it whole.
    let entries: Vec<Entry> = (0..35)
        .map(|i| {
            Entry::new(
                now.plus(Duration::from_nanos(i)),
                format!("{i:06}{}", "r".repeat(200 * 1024)),
            )
        })
        .collect();
    let report = client
        .push_accounted(&[Stream::new(labels(&[("run", &run)]), entries)])
        .await
        .unwrap();
    assert_eq!(report.http_status(), Some(429), "{report:?}");
    assert_eq!(report.rejected(), 35);
    assert!(report.outcomes().iter().all(|o| matches!(
        o.status,
        EntryStatus::Rejected {
            kind: ErrorKind::RateLimited,
            ..
        }
    )));
}

#[tokio::test]
async fn json_metadata_with_escapes_is_refused_not_corrupted() {
    let Some(client) = client_with(
        |b| b.encoding(PushEncoding::Json { gzip: false }),
        "json_metadata_with_escapes_is_refused_not_corrupted",
    ) else {
        return;
    };
    let run = run_id("jsonmeta");
    let now = Timestamp::now();
    let entries = vec![
        Entry::new(now, "a").with_metadata("m", "x\"y"),
        Entry::new(now.plus(Duration::from_nanos(1)), "b").with_metadata("m", "plain"),
    ];
    let report = client
        .push_accounted(&[Stream::new(labels(&[("run", &run)]), entries)])
        .await
        .unwrap();
    assert!(
        matches!(&report.outcomes()[0].status, EntryStatus::NotSent { reason } if reason.contains("Protobuf")),
        "{report:?}"
    );
    assert_eq!(report.outcomes()[1].status, EntryStatus::Accepted);
    let got = read_run(&client, &run, now.minus(Duration::from_secs(1)), 100).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].1.structured_metadata,
        vec![("m".to_owned(), "plain".to_owned())]
    );
}

#[tokio::test]
async fn wrong_credentials_are_typed_unauthorized() {
    let Some(client) = client("wrong_credentials_are_typed_unauthorized") else {
        return;
    };
    if std::env::var("LOKI_USERNAME").is_err() && std::env::var("LOKI_BEARER_TOKEN_FILE").is_err() {
        use std::io::Write;
        let _ = std::io::stderr().write_all(b"\nskipped: wrong_credentials_are_typed_unauthorized needs an authenticating Loki (set LOKI_USERNAME and LOKI_PASSWORD_FILE)\n");
        return;
    }
    let dir = std::env::temp_dir().join(format!("telltale-wrong-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("password"), "not-the-password\n").unwrap();
    let mut builder = Client::builder(client.base_url())
        .retry(RetryPolicy::none())
        .auth(telltale_loki::Auth::Basic {
            username: "tester".into(),
            password: telltale_loki::Secret::from_file(dir.join("password")).unwrap(),
        });
    if let Ok(ca) = std::env::var("LOKI_CA_CERT_PATH") {
        builder = builder.ca_file(ca);
    }
    let wrong = builder.build().unwrap();
    let kind = |e: Error| e.api().map(|a| a.kind());
    assert_eq!(
        kind(wrong.build_info().await.unwrap_err()),
        Some(ErrorKind::Unauthorized)
    );
    let push = wrong
        .push_accounted(&[Stream::new(
            labels(&[("run", "never")]),
            vec![Entry::new(Timestamp::now(), "x")],
        )])
        .await;
    assert_eq!(kind(push.unwrap_err()), Some(ErrorKind::Unauthorized));
    assert_eq!(
        kind(
            wrong
                .tail("{run=\"never\"}", &TailOptions::default())
                .await
                .unwrap_err()
        ),
        Some(ErrorKind::Unauthorized)
    );
    // A client that does not trust the proxy's CA fails at TLS, as a transport error.
    if std::env::var("LOKI_CA_CERT_PATH").is_ok() {
        let untrusting = Client::builder(client.base_url())
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        assert!(matches!(
            untrusting.build_info().await.unwrap_err(),
            Error::Transport { .. }
        ));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Needs a Loki with tiny limits, named by `LOKI_LIMITED_URL`: `max_global_streams_per_user: 3`,
/// `per_stream_rate_limit: 2KB`, `per_stream_rate_limit_burst: 4KB` (see the crate README).
#[tokio::test]
async fn stream_limits_are_typed_and_retried_entry_by_entry() {
    let Ok(url) = std::env::var("LOKI_LIMITED_URL") else {
        use std::io::Write;
        let _ = std::io::stderr().write_all(b"\nskipped: stream_limits_are_typed_and_retried_entry_by_entry (set LOKI_LIMITED_URL to a Loki with tiny stream limits)\n");
        return;
    };
    let once = Client::builder(&url)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let stream = labels(&[("job", "telltale-limits")]);
    let now = Timestamp::now();
    let line = |i: u64| {
        Entry::new(
            now.plus(Duration::from_nanos(i)),
            format!("{i:04}{}", "r".repeat(1496)),
        )
    };

    // Three 1.5 kB lines against a 4 kB burst: some are refused for this stream's rate alone.
    let report = once
        .push_accounted(&[Stream::new(stream.clone(), (0..3).map(line).collect())])
        .await
        .unwrap();
    assert_eq!(report.http_status(), Some(429), "{report:?}");
    assert_eq!(report.unknown(), 0, "{report:?}");
    let refused = report
        .outcomes()
        .iter()
        .filter(|o| o.status.rejection_kind() == Some(ErrorKind::StreamRateLimited))
        .count();
    assert!(
        refused >= 1 && report.accepted() + refused == 3,
        "{report:?}"
    );

    // With retries, only what was refused goes again. Loki checks a stream's whole batch
    // against its rate, so the refused stream's batch (3 kB) must fit the 4 kB burst.
    let other = labels(&[("job", "telltale-limits-other")]);
    let patient = Client::builder(&url)
        .retry(RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(30),
        })
        .build()
        .unwrap();
    // Spend the stream's tokens: 3 kB of its 4 kB burst.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = once
        .push_accounted(&[Stream::new(stream.clone(), (5..7).map(line).collect())])
        .await
        .unwrap();
    assert_eq!(spent.accepted(), 2, "{spent:?}");
    let batch = [
        Stream::new(other.clone(), vec![Entry::new(now, "small")]),
        Stream::new(stream.clone(), (10..12).map(line).collect()),
    ];
    let both_bytes = telltale_loki::encode_push(&batch, PushEncoding::Protobuf)
        .body
        .len();
    let report = patient.push_accounted(&batch).await.unwrap();
    assert_eq!(report.accepted(), 3, "{report:?}");
    assert!(
        report.attempts() > 1,
        "the stream's tokens were spent, so the first attempt is refused: {report:?}"
    );
    assert!(
        report.request_bytes() < both_bytes,
        "the last attempt resent only the refused stream: {report:?}"
    );
    let stored = patient
        .read_all(
            Selector::from(&stream).logs(),
            now,
            now.plus(Duration::from_secs(1)),
            Direction::Forward,
            100,
        )
        .await
        .unwrap();
    let lines: Vec<&str> = stored
        .iter()
        .flat_map(|s| &s.entries)
        .map(|e| &e.line[..4])
        .filter(|l| l.starts_with("001"))
        .collect();
    assert_eq!(lines, ["0010", "0011"], "each entry stored once");

    // New streams past max_global_streams_per_user are refused by stream, the others kept.
    let fresh: Vec<Stream> = (0..5)
        .map(|i| {
            Stream::new(
                labels(&[("job", &format!("new-{}-{i}", run_id("limit")))]),
                vec![line(100 + i)],
            )
        })
        .collect();
    let report = once.push_accounted(&fresh).await.unwrap();
    let limited = report
        .outcomes()
        .iter()
        .filter(|o| o.status.rejection_kind() == Some(ErrorKind::StreamLimit))
        .count();
    // Loki counts streams per request loosely (single-binary shards the global limit), so only
    // "some are refused, by stream, and every entry is accounted for" is asserted.
    assert!(
        limited >= 1 && report.accepted() + limited == 5,
        "{report:?}"
    );
}

#[tokio::test]
async fn copies_straddling_a_page_edge_are_all_read() {
    // Copies of one line at one timestamp, each with its own structured metadata, and one
    // copy pushed twice whole: pages of 3 end inside the group of copies, in both directions,
    // and the paged read must hold what one unpaged read holds.
    let Some(client) = client("copies_straddling_a_page_edge_are_all_read") else {
        return;
    };
    let run = run_id("edge-copies");
    let stream = labels(&[("run", &run)]);
    let t0 = Timestamp::now().minus(Duration::from_secs(5));
    let at = |ms: u64, line: &str| Entry::new(t0.plus(Duration::from_millis(ms)), line);
    let first = vec![
        at(0, "a"),
        at(1, "b"),
        at(2, "copy").with_metadata("copy", "1"),
        at(2, "copy").with_metadata("copy", "2"),
        at(3, "d"),
        at(4, "e"),
    ];
    let report = client
        .push(&[Stream::new(stream.clone(), first)])
        .await
        .unwrap();
    assert_eq!(report.accepted(), 6, "{report:?}");
    let again = vec![at(2, "copy").with_metadata("copy", "2")];
    client
        .push(&[Stream::new(stream.clone(), again)])
        .await
        .unwrap();
    let query = Selector::from(&stream).logs();
    let (start, end) = (t0, t0.plus(Duration::from_secs(1)));
    let shown = |streams: Vec<telltale_loki::ReadStream>| {
        let mut v: Vec<String> = streams
            .into_iter()
            .flat_map(|s| s.entries)
            .map(|e| {
                let meta: Vec<_> = e
                    .structured_metadata
                    .into_iter()
                    .filter(|(k, _)| k == "copy")
                    .collect();
                format!("{} {} {meta:?}", e.timestamp.unix_nanos(), e.line)
            })
            .collect();
        v.sort();
        v
    };
    let whole = shown(
        client
            .read_all(&query, start, end, Direction::Forward, 1000)
            .await
            .unwrap(),
    );
    let copies = whole.iter().filter(|l| l.contains(" copy ")).count();
    assert!(copies >= 2, "both distinct copies are stored: {whole:?}");
    for direction in [Direction::Forward, Direction::Backward] {
        for page in [3, 4] {
            let paged = shown(
                client
                    .read_all(&query, start, end, direction, page)
                    .await
                    .unwrap(),
            );
            assert_eq!(paged, whole, "{direction:?}, pages of {page}");
        }
    }
}
