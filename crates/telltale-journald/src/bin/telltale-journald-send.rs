//! `telltale-journald-send`: sends numbered entries to journald's native socket, so a harness
//! can run the writer as another process, e.g. inside a systemd unit so the entries carry that
//! unit's `_SYSTEMD_UNIT`.
//!
//! ```text
//! telltale-journald-send --run ID [--count N] [--first-seq N] [--message TEXT]
//!     [--priority 0-7|emerg…debug] [--identifier NAME] [--socket PATH]
//!     [--field NAME=VALUE]... [--field-file NAME=PATH]... [--linger-ms N]
//! ```
//!
//! `--linger-ms` keeps the process alive that long after the last send. journald reads the
//! sender's cgroup (and so `_SYSTEMD_UNIT`) from `/proc/<pid>` when it processes a datagram; a
//! sender that has already exited by then is logged without its unit.
//!
//! Every entry gets `MESSAGE` (default `telltale line {seq}`; `{seq}` is replaced by the
//! entry's sequence number), the given fields, `TELLTALE_RUN` and `TELLTALE_SEQ`. On success it
//! prints one line, `sent N entries run=ID seq=A..B datagrams=D memfds=M`, and exits 0; on the
//! first error it prints the error and exits 1.

use std::ffi::OsString;
use std::process::ExitCode;

use telltale_journald::{Entry, Error, FieldName, Priority, Via, Writer};

struct Args {
    run: Option<String>,
    count: u64,
    first_seq: u64,
    message: String,
    priority: Option<Priority>,
    identifier: Option<String>,
    socket: Option<OsString>,
    fields: Vec<(FieldName, Vec<u8>)>,
    linger: std::time::Duration,
}

fn usage() -> String {
    "usage: telltale-journald-send --run ID [--count N] [--first-seq N] [--message TEXT] \
     [--priority P] [--identifier NAME] [--socket PATH] [--field NAME=VALUE]... \
     [--field-file NAME=PATH]... [--linger-ms N]"
        .to_owned()
}

fn split_field(arg: &str) -> Result<(FieldName, &str), String> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("{arg:?} is not NAME=VALUE"))?;
    Ok((FieldName::new(name).map_err(|e| e.to_string())?, value))
}

fn parse(mut argv: impl Iterator<Item = OsString>) -> Result<Args, String> {
    let mut args = Args {
        run: None,
        count: 1,
        first_seq: 0,
        message: "telltale line {seq}".to_owned(),
        priority: None,
        identifier: None,
        socket: None,
        fields: Vec::new(),
        linger: std::time::Duration::ZERO,
    };
    while let Some(flag) = argv.next() {
        let flag = flag.into_string().map_err(|f| format!("bad flag {f:?}"))?;
        let mut value = || {
            argv.next()
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))
        };
        let text = |v: OsString| v.into_string().map_err(|v| format!("{v:?} is not UTF-8"));
        match flag.as_str() {
            "--run" => args.run = Some(text(value()?)?),
            "--count" => {
                args.count = text(value()?)?
                    .parse()
                    .map_err(|e| format!("--count: {e}"))?
            }
            "--first-seq" => {
                args.first_seq = text(value()?)?
                    .parse()
                    .map_err(|e| format!("--first-seq: {e}"))?
            }
            "--message" => args.message = text(value()?)?,
            "--priority" => {
                args.priority = Some(text(value()?)?.parse().map_err(|e: Error| e.to_string())?)
            }
            "--identifier" => args.identifier = Some(text(value()?)?),
            "--socket" => args.socket = Some(value()?),
            "--field" => {
                let arg = text(value()?)?;
                let (name, v) = split_field(&arg)?;
                args.fields.push((name, v.as_bytes().to_vec()));
            }
            "--field-file" => {
                let arg = text(value()?)?;
                let (name, path) = split_field(&arg)?;
                let bytes = std::fs::read(path).map_err(|e| format!("read {path}: {e}"))?;
                args.fields.push((name, bytes));
            }
            "--linger-ms" => {
                let ms: u64 = text(value()?)?
                    .parse()
                    .map_err(|e| format!("--linger-ms: {e}"))?;
                args.linger = std::time::Duration::from_millis(ms);
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown flag {other}\n{}", usage())),
        }
    }
    Ok(args)
}

fn run(args: Args) -> Result<String, String> {
    let run = args
        .run
        .ok_or_else(|| format!("--run is required\n{}", usage()))?;
    let mut builder = Writer::builder(run.as_str())
        .map_err(|e| e.to_string())?
        .first_seq(args.first_seq);
    if let Some(socket) = args.socket {
        builder = builder.socket(socket);
    }
    if let Some(id) = args.identifier {
        builder = builder.identifier(id);
    }
    let writer = builder.build().map_err(|e| e.to_string())?;
    let (mut datagrams, mut memfds) = (0u64, 0u64);
    for i in 0..args.count {
        let seq = args.first_seq + i;
        let mut entry = Entry::message(args.message.replace("{seq}", &seq.to_string()));
        if let Some(p) = args.priority {
            entry = entry.with_priority(p);
        }
        for (name, value) in &args.fields {
            entry.push(name.clone(), value.clone());
        }
        let sent = writer
            .send(&entry)
            .map_err(|e| format!("entry {seq}: {}", error_chain(&e)))?;
        match sent.via {
            Via::Datagram => datagrams += 1,
            _ => memfds += 1,
        }
    }
    std::thread::sleep(args.linger);
    let last = (args.first_seq + args.count).saturating_sub(1);
    Ok(format!(
        "sent {} entries run={run} seq={}..{last} datagrams={datagrams} memfds={memfds}",
        args.count, args.first_seq
    ))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s += &format!(": {inner}");
        source = inner.source();
    }
    s
}

fn main() -> ExitCode {
    match parse(std::env::args_os().skip(1)).and_then(run) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("telltale-journald-send: {e}");
            ExitCode::FAILURE
        }
    }
}
