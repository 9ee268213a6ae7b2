//! `wb-engine run --metrics-addr ADDR --log-format json`: `/metrics` parses
//! as Prometheus text and says what `status` says, `/healthz` answers, the
//! log is one JSON object a line, and with Redis gone `/metrics` still
//! answers, saying so.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use wb_tests::workload::write_project;
use wb_tests::{free_port, Flavor, Server, ServerOptions, TempDir};

use crate::{stderr, stdout, wb, Engine};

/// `GET path` on `port`: the status code and the body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .expect("a Content-Length");
    assert_eq!(body.len(), length, "Content-Length");
    (code, body.to_owned())
}

/// One sample: its name and labels, and its value.
type Samples = BTreeMap<String, f64>;

/// Parses Prometheus's text format strictly (names, labels and their
/// escapes, values; a family's TYPE before its samples; histogram buckets
/// cumulative and ending at the count). Panics naming the line at fault;
/// returns the samples keyed by their text before the value.
fn parse_prometheus(text: &str) -> Samples {
    let is_name = |n: &str| {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Samples::new();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("line {}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or_else(|| panic!("{}", at()));
            assert!(is_name(name), "{}", at());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{}", at()));
            assert!(is_name(name), "{}", at());
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{}",
                at()
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "TYPE twice: {}",
                at()
            );
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{}", at());
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{}", at()));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value: {}", at())),
        };
        let name = series.split('{').next().unwrap_or_default();
        assert!(is_name(name), "{}", at());
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .unwrap_or_else(|| panic!("labels: {}", at()));
            // key="value" pairs, values with \\ \" \n escapes only.
            let mut rest = inner;
            while !rest.is_empty() {
                let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("{}", at()));
                assert!(is_name(key), "label name: {}", at());
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((_, '\\')) => {
                            let escaped = chars.next().map(|(_, c)| c);
                            assert!(
                                matches!(escaped, Some('\\' | '"' | 'n')),
                                "escape: {}",
                                at()
                            );
                        }
                        Some((i, '"')) => break i,
                        Some(_) => {}
                        None => panic!("unclosed label value: {}", at()),
                    }
                };
                rest = &after[end + 1..];
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "a sample before its TYPE: {}",
            at()
        );
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "a series twice: {}",
            at()
        );
    }
    // Histograms: buckets cumulative, +Inf equal to the count.
    for (family, _) in types.iter().filter(|(_, t)| *t == "histogram") {
        let counts: Vec<(&String, &f64)> = samples
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{family}_count")))
            .collect();
        for (count_series, count) in counts {
            let labels = count_series.trim_start_matches(&format!("{family}_count"));
            let labels = labels.trim_start_matches('{').trim_end_matches('}');
            let mut last = 0.0;
            let buckets: Vec<f64> = samples
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{family}_bucket{{{labels},le=")))
                .map(|(_, v)| *v)
                .collect();
            assert!(!buckets.is_empty(), "{family}: no buckets for {labels}");
            let inf = samples[&format!("{family}_bucket{{{labels},le=\"+Inf\"}}")];
            assert_eq!(inf, *count, "{family}: +Inf bucket against the count");
            for b in buckets {
                assert!(b <= inf, "{family}: a bucket above the count");
                last = f64::max(last, b);
            }
            assert!(last <= inf);
        }
    }
    samples
}

#[test]
fn metrics_parse_as_prometheus_text_and_agree_with_status() {
    let mut server = Server::start(ServerOptions::new(Flavor::Valkey));
    let url = server.url();
    let mut con = server.connection();
    let dir = TempDir::new("metrics");
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create the SQLite file")
        .execute_batch("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT)")
        .expect("create the table");
    let job = "source: {redis: {key_pattern: 'person:*'}}\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: people\n      keys: [{id: key_part(1)}]\n      mapping: [name]\n";
    write_project(
        dir.path(),
        &format!("    type: sqlite\n    path: {}\n", db.display()),
        &[("people", job)],
        10,
    );
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let engine = Engine::start(
        dir.path(),
        &url,
        &[
            ("WB_METRICS_ADDR", OsStr::new(&addr)),
            ("WB_LOG_FORMAT", OsStr::new("json")),
        ],
    );
    crate::wait_for_jobs(&mut con, &["people"]);
    for n in 0..30 {
        wb_tests::cmd(
            &mut con,
            &["HSET", &format!("person:{n}"), "name", &format!("P{n}")],
        );
    }
    let series = |name: &str| format!("{name}{{job=\"people\",shard=\"0\"}}");
    // The batch histogram is kept in the engine and counted just after the
    // status counters in Redis: both are waited for.
    let written = |count: f64| {
        wb_tests::wait_until(Duration::from_secs(30), || {
            let samples = parse_prometheus(&get(port, "/metrics").1);
            let sample = |name: &str| samples.get(&series(name)).copied();
            sample("wb_changes_written_total") == Some(count)
                && sample("wb_batch_duration_seconds_count") == sample("wb_batches_total")
        })
    };
    assert!(
        written(30.0),
        "{}\n{}",
        get(port, "/metrics").1,
        engine.log()
    );
    for n in 0..5 {
        wb_tests::cmd(&mut con, &["DEL", &format!("person:{n}")]);
    }
    assert!(
        written(35.0),
        "{}\n{}",
        get(port, "/metrics").1,
        engine.log()
    );

    let (code, body) = get(port, "/metrics");
    assert_eq!(code, 200);
    let samples = parse_prometheus(&body);
    let out = wb(&["status", "people", "--json"], &[("WB_REDIS_URL", &url)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let status = &status[0];
    for (metric, field) in [
        ("wb_changes_read_total", "read"),
        ("wb_changes_written_total", "written"),
        ("wb_changes_rejected_total", "rejected"),
        ("wb_batches_total", "batches"),
        ("wb_pending_changes", "pending"),
        ("wb_stream_length", "length"),
    ] {
        assert_eq!(
            samples[&series(metric)],
            status[field].as_f64().expect("a number"),
            "{metric} against status's {field}\n{body}"
        );
    }
    for (kind, want) in [("upserted", 30), ("deleted", 5), ("appended", 0)] {
        assert_eq!(status[format!("rows_{kind}")], want, "{status}");
        assert_eq!(
            samples[&format!("wb_rows_total{{job=\"people\",shard=\"0\",kind=\"{kind}\"}}")],
            f64::from(want),
            "{body}"
        );
    }
    assert_eq!(samples["wb_redis_up"], 1.0);
    assert_eq!(
        samples["wb_job_state{job=\"people\",shard=\"0\",state=\"running\"}"],
        1.0
    );
    let batches = samples[&series("wb_batch_duration_seconds_count")];
    assert!(
        batches >= 3.0,
        "30 changes in batches of 10 at most: {batches}\n{body}"
    );
    assert_eq!(batches, samples[&series("wb_batches_total")]);

    let (code, body) = get(port, "/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    assert_eq!(get(port, "/nope").0, 404);

    // One JSON object a line, each with a level and a message.
    let log = engine.log();
    assert!(log.lines().count() >= 3, "{log}");
    for line in log.lines() {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["fields"]["message"].is_string(),
            "{line}"
        );
    }

    // Redis gone: the endpoint still answers, and says so.
    server.kill();
    let (code, body) = get(port, "/metrics");
    assert_eq!(code, 200);
    let samples = parse_prometheus(&body);
    assert_eq!(samples["wb_redis_up"], 0.0, "{body}");
    assert!(samples.contains_key(&series("wb_batch_duration_seconds_count")));
    assert!(!samples.contains_key(&series("wb_changes_written_total")));
    let (stopped, log) = engine.stop();
    assert!(stopped, "{log}");
}

#[test]
fn the_prometheus_parser_refuses_what_is_not_prometheus_text() {
    for bad in [
        "wb_x 1\n",                                  // no TYPE
        "# TYPE wb_x gauge\nwb_x{job=\"a} 1\n",      // unclosed label
        "# TYPE wb_x gauge\nwb_x one\n",             // not a number
        "# TYPE wb_x gauge\nwb_x{job=\"a\\q\"} 1\n", // bad escape
        "# TYPE wb_x gauge\nwb_x 1\nwb_x 2\n",       // a series twice
    ] {
        let caught = std::panic::catch_unwind(|| parse_prometheus(bad));
        assert!(caught.is_err(), "accepted {bad:?}");
    }
    let good = parse_prometheus("# HELP wb_x X.\n# TYPE wb_x gauge\nwb_x{job=\"a\\\"b\"} 2.5\n");
    assert_eq!(good["wb_x{job=\"a\\\"b\"}"], 2.5);
}
