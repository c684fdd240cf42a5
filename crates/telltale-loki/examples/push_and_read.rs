//! Pushes a few lines to the Loki named by `LOKI_URL` and reads them back, exactly.
//!
//! `LOKI_URL=http://127.0.0.1:3100 cargo run -p telltale-loki --example push_and_read`

use std::time::Duration;

use telltale_loki::{Client, Direction, Entry, LabelSet, Selector, Stream, Timestamp};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(builder) = Client::builder_from_env()? else {
        eprintln!("skipped: push_and_read example (set LOKI_URL)");
        std::process::exit(2);
    };
    let client = builder.build()?;
    client.wait_ready(Duration::from_secs(30)).await?;
    let info = client.build_info().await?;
    println!("loki {} at {}", info.version, client.base_url());

    let run = format!("example-{}", Timestamp::now().unix_nanos());
    let labels = LabelSet::new([("app", "telltale-example"), ("run", run.as_str())])?;
    let start = Timestamp::now();
    let entries: Vec<Entry> = (0..5)
        .map(|i| {
            Entry::new(
                start.plus(Duration::from_millis(i)),
                format!("hello {i} from telltale"),
            )
            .with_metadata("seq", i.to_string())
        })
        .collect();
    let report = client
        .push(&[Stream::new(labels.clone(), entries.clone())])
        .await?;
    println!(
        "pushed {} lines ({} bytes on the wire, {} attempt(s))",
        report.accepted(),
        report.request_bytes(),
        report.attempts()
    );

    let query = Selector::from(&labels).logs();
    let streams = client
        .read_all(
            &query,
            start.minus(Duration::from_secs(1)),
            Timestamp::now().plus(Duration::from_secs(1)),
            Direction::Forward,
            1000,
        )
        .await?;
    let read: Vec<_> = streams.iter().flat_map(|s| &s.entries).collect();
    for e in &read {
        println!("{} {}", e.timestamp.unix_nanos(), e.line);
    }
    let exact = read.len() == entries.len()
        && read
            .iter()
            .zip(&entries)
            .all(|(r, e)| r.timestamp == e.timestamp && r.line == e.line);
    if !exact {
        return Err(format!(
            "read back {} lines that differ from the {} pushed",
            read.len(),
            entries.len()
        )
        .into());
    }
    println!("read back all {} lines exactly with {query}", read.len());
    Ok(())
}
