//! The engine's source stage against a real Valkey with the capture module:
//! consumer groups, pending entries, coalescing, reading values, trimming.

use std::time::{Duration, Instant};

use wb_abi::ValueData;
use wb_engine::source::{coalesce, fetch_values, FetchError, KeyKind, ShardReader, GROUP};
use wb_tests::redis::{self, Connection};
use wb_tests::{cmd, Flavor, Server, ServerOptions};

const USERS: &str = "wb:{0}:changes:users";
const BLOCK: Duration = Duration::from_millis(200);

fn setup() -> (Server, Connection) {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    cmd(&mut con, &["WB.JOB.SET", "users", "user:*"]);
    (server, con)
}

async fn reader(server: &Server) -> ShardReader {
    let mut reader = ShardReader::connect(&server.url()).await.expect("connect");
    let streams = reader.job_streams().await.expect("WB.STREAMS");
    assert_eq!(streams, vec![USERS.to_owned()]);
    reader.ensure_group(USERS).await.expect("group");
    reader
        .ensure_group(USERS)
        .await
        .expect("creating the group twice is fine");
    reader
}

#[tokio::test(flavor = "current_thread")]
async fn reads_coalesces_and_fetches_every_value_type() {
    let (server, mut con) = setup();
    // Written before the engine's group exists: still read (group starts at 0).
    cmd(&mut con, &["HSET", "user:1", "name", "ann", "age", "30"]);
    let mut reader = reader(&server).await;
    cmd(&mut con, &["HSET", "user:2", "name", "bob"]);
    cmd(&mut con, &["SADD", "user:3", "red", "blue"]);
    cmd(&mut con, &["ZADD", "user:4", "1.5", "a", "2", "b"]);
    cmd(&mut con, &["JSON.SET", "user:5", "$", r#"{"x":[1,2]}"#]);
    cmd(&mut con, &["HSET", "user:1", "age", "31"]);
    cmd(&mut con, &["DEL", "user:2"]);
    cmd(&mut con, &["SET", "user:6", "plain"]);
    cmd(&mut con, &["EXPIRE", "user:6", "100"]);

    let reads = reader
        .read_new(&[USERS.to_owned()], 100, BLOCK)
        .await
        .expect("read");
    assert_eq!(reads.len(), 1);
    let read = &reads[0];
    assert_eq!(read.entries.len(), 8, "SET is not recorded; its EXPIRE is");
    assert!(read.malformed.is_empty());
    let batch = coalesce(read.entries.clone());
    assert_eq!(batch.ids.len(), 8);
    let keys: Vec<String> = batch
        .changes
        .iter()
        .map(|c| String::from_utf8_lossy(&c.key).into_owned())
        .collect();
    assert_eq!(
        keys,
        vec!["user:3", "user:4", "user:5", "user:1", "user:2", "user:6"]
    );
    let values = fetch_values(reader.connection(), &batch.changes)
        .await
        .expect("fetch");
    let mut hash = match &values[3] {
        Ok(ValueData::Hash(pairs)) => pairs.clone(),
        other => panic!("user:1: {other:?}"),
    };
    hash.sort();
    assert_eq!(
        hash,
        vec![
            (b"age".to_vec(), b"31".to_vec()),
            (b"name".to_vec(), b"ann".to_vec())
        ]
    );
    let mut members = match &values[0] {
        Ok(ValueData::Set(m)) => m.clone(),
        other => panic!("user:3: {other:?}"),
    };
    members.sort();
    assert_eq!(members, vec![b"blue".to_vec(), b"red".to_vec()]);
    assert_eq!(
        values[1],
        Ok(ValueData::SortedSet(vec![
            (b"a".to_vec(), 1.5),
            (b"b".to_vec(), 2.0)
        ]))
    );
    assert_eq!(values[2], Ok(ValueData::Json(r#"{"x":[1,2]}"#.to_owned())));
    assert_eq!(values[4], Ok(ValueData::Missing), "deleted key");
    assert_eq!(batch.changes[5].kind, KeyKind::Other("string".to_owned()));
    assert!(
        matches!(&values[5], Err(FetchError::UnsupportedType { key, kind }) if key == "user:6" && kind == "string")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_key_that_changed_type_is_read_as_what_it_is_now() {
    let (server, mut con) = setup();
    let mut reader = reader(&server).await;
    cmd(&mut con, &["HSET", "user:7", "a", "1"]);
    let reads = reader
        .read_new(&[USERS.to_owned()], 100, BLOCK)
        .await
        .expect("read");
    let batch = coalesce(reads[0].entries.clone());
    assert_eq!(batch.changes[0].kind, KeyKind::Hash);
    // Replaced by a set between the read of the stream and the read of values.
    cmd(&mut con, &["DEL", "user:7"]);
    cmd(&mut con, &["SADD", "user:7", "m"]);
    let values = fetch_values(reader.connection(), &batch.changes)
        .await
        .expect("fetch");
    assert_eq!(values, vec![Ok(ValueData::Set(vec![b"m".to_vec()]))]);
}

#[tokio::test(flavor = "current_thread")]
async fn unacknowledged_entries_are_pending_until_acknowledged_then_trimmed() {
    let (server, mut con) = setup();
    let mut reader = reader(&server).await;
    for i in 0..250 {
        cmd(&mut con, &["HSET", &format!("user:{i}"), "n", "1"]);
    }
    let first = reader
        .read_new(&[USERS.to_owned()], 1000, BLOCK)
        .await
        .expect("read");
    assert_eq!(first[0].entries.len(), 250);
    // A second engine start (same consumer) gets the same entries back first.
    let mut restarted = ShardReader::connect(&server.url()).await.expect("connect");
    let pending = restarted.read_pending(USERS, 1000).await.expect("pending");
    assert_eq!(pending.entries, first[0].entries);
    // Nothing new to read meanwhile.
    let none = restarted
        .read_new(&[USERS.to_owned()], 1000, BLOCK)
        .await
        .expect("read");
    assert!(none.iter().all(|r| r.entries.is_empty()));

    let ids: Vec<_> = pending.entries.iter().map(|e| e.id).collect();
    restarted
        .acknowledge(USERS, &ids[..200])
        .await
        .expect("ack");
    let left = restarted.read_pending(USERS, 1000).await.expect("pending");
    assert_eq!(
        left.entries.len(),
        50,
        "only the unacknowledged remain pending"
    );
    restarted
        .acknowledge(USERS, &ids[200..])
        .await
        .expect("ack");
    assert!(restarted
        .read_pending(USERS, 1000)
        .await
        .expect("pending")
        .entries
        .is_empty());
    let len: usize = redis::cmd("XLEN").arg(USERS).query(&mut con).expect("XLEN");
    assert!(len < 250, "acknowledged entries were trimmed ({len} left)");
    let info: redis::Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(USERS)
        .query(&mut con)
        .expect("XINFO");
    assert!(format!("{info:?}").contains(GROUP));
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_entries_are_reported_not_fatal() {
    let (server, mut con) = setup();
    let mut reader = reader(&server).await;
    cmd(&mut con, &["XADD", USERS, "*", "key", "user:1"]);
    cmd(&mut con, &["HSET", "user:1", "a", "1"]);
    let reads = reader
        .read_new(&[USERS.to_owned()], 100, BLOCK)
        .await
        .expect("read");
    assert_eq!(reads[0].malformed.len(), 1);
    assert!(reads[0].malformed[0].1.contains("missing"));
    assert_eq!(reads[0].entries.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocked_read_returns_when_the_first_change_arrives() {
    let (server, _con) = setup();
    let mut reader = reader(&server).await;
    let url = server.url();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        let mut con = redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .expect("connect");
        let _: () = redis::cmd("HSET")
            .arg("user:1")
            .arg("a")
            .arg("1")
            .query(&mut con)
            .expect("HSET");
    });
    let started = Instant::now();
    let reads = reader
        .read_new(&[USERS.to_owned()], 100, Duration::from_secs(5))
        .await
        .expect("read");
    let waited = started.elapsed();
    writer.join().expect("writer");
    assert_eq!(reads[0].entries.len(), 1);
    assert!(
        waited < Duration::from_secs(2),
        "waited {waited:?} for one change"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn dead_letters_carry_their_reason_and_are_capped() {
    use wb_engine::control::dlq::{self, DeadLetter, Stage};
    use wb_engine::control::JobStream;

    let (server, mut con) = setup();
    let mut reader = reader(&server).await;
    let names = JobStream::parse(USERS).expect("a job stream");
    let letter = DeadLetter {
        key: b"user:\x00bad".to_vec(),
        event: "hset".to_owned(),
        stream_id: "1-1".to_owned(),
        stage: Stage::Write,
        reason: "column age: 'abc' is not an integer".to_owned(),
        row: Some(r#"{"age":"abc"}"#.to_owned()),
    };
    dlq::push(
        reader.connection(),
        &names.dead_letters(),
        100,
        std::slice::from_ref(&letter),
    )
    .await
    .expect("push");
    let entries = wb_tests::read_stream(&mut con, "wb:{0}:dlq:users", None);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.field("key"), Some(b"user:\x00bad".as_slice()));
    assert_eq!(e.field("stage"), Some(b"write".as_slice()));
    assert_eq!(e.field("stream_id"), Some(b"1-1".as_slice()));
    assert_eq!(e.field("reason"), Some(letter.reason.as_bytes()));
    assert_eq!(e.field("row"), Some(br#"{"age":"abc"}"#.as_slice()));
    assert!(e.field("time").is_some());
    // The dead-letter stream is the engine's own key: never captured.
    let captured: usize = redis::cmd("XLEN").arg(USERS).query(&mut con).expect("XLEN");
    assert_eq!(captured, 0);

    let many = vec![letter; 500];
    dlq::push(reader.connection(), &names.dead_letters(), 100, &many)
        .await
        .expect("push");
    let len: usize = redis::cmd("XLEN")
        .arg("wb:{0}:dlq:users")
        .query(&mut con)
        .expect("XLEN");
    assert_eq!(len, 100, "capped at exactly 100");
}

#[tokio::test(flavor = "current_thread")]
async fn a_flushed_stream_is_read_again_from_its_start() {
    let (server, mut con) = setup();
    let mut reader = reader(&server).await;
    cmd(&mut con, &["HSET", "user:1", "a", "1"]);
    let first = reader
        .read_new(&[USERS.to_owned()], 100, BLOCK)
        .await
        .expect("read");
    assert_eq!(first[0].entries.len(), 1);
    // FLUSHALL takes the stream and its group; the module starts the stream
    // again with a flush entry, which the engine must not miss.
    cmd(&mut con, &["FLUSHALL"]);
    cmd(&mut con, &["HSET", "user:2", "a", "1"]);
    let err = reader
        .read_new(&[USERS.to_owned()], 100, BLOCK)
        .await
        .expect_err("the group is gone");
    assert!(err.is_missing_group(), "{err}");
    assert!(!err.is_transient());
    reader.ensure_group(USERS).await.expect("group");
    let again = reader
        .read_new(&[USERS.to_owned()], 100, BLOCK)
        .await
        .expect("read");
    let events: Vec<&str> = again[0].entries.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, vec!["flush", "hset"]);
    let batch = coalesce(again[0].entries.clone());
    assert!(batch.flush.is_some());
    assert_eq!(batch.changes.len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stopped_server_is_a_transient_error() {
    let (mut server, con) = setup();
    let mut reader = reader(&server).await;
    drop(con);
    server.kill();
    let err = reader
        .read_new(&[USERS.to_owned()], 100, BLOCK)
        .await
        .expect_err("the server is down");
    assert!(err.is_transient(), "{err}");
}
