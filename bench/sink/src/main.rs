//! Sink benchmark: N upserts of 10-column rows written through the
//! PostgreSQL sink in batches, against the raw limit measured in the same
//! run on the same table (the same rows by binary COPY into a temporary
//! table, then one INSERT ... ON CONFLICT). Also the other statement forms
//! the sink could use, at the same batch size, and the SQLite sink.
//!
//! Usage: wb-bench-sink [--rows N] [--batch N] [--pg CONNINFO] [--repeat N] [--skip-sqlite]
//!
//! With `--repeat N` the PostgreSQL methods run N rounds, interleaved so
//! that load from elsewhere on the machine falls on all of them alike, and
//! the medians are reported.

use std::error::Error;
use std::pin::pin;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};
use wb_engine::sink::postgres::{PgConfig, PgSink};
use wb_engine::sink::sqlite::{SqliteConfig, SqliteSink};
use wb_engine::sink::{Batch, Cell, RowOp, Sink, StreamOffset, TaggedOp};

type Res<T> = Result<T, Box<dyn Error>>;

struct Args {
    rows: usize,
    batch: usize,
    pg: String,
    sqlite: bool,
    repeat: usize,
}

fn args() -> Res<Args> {
    let mut a = Args {
        rows: 200_000,
        batch: 1_000,
        pg: "host=127.0.0.1 port=5432 user=postgres dbname=test".into(),
        sqlite: true,
        repeat: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--rows" => a.rows = it.next().ok_or("--rows N")?.parse()?,
            "--batch" => a.batch = it.next().ok_or("--batch N")?.parse()?,
            "--pg" => a.pg = it.next().ok_or("--pg CONNINFO")?,
            "--skip-sqlite" => a.sqlite = false,
            "--repeat" => a.repeat = it.next().ok_or("--repeat N")?.parse::<usize>()?.max(1),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

/// One source row, as typed values (for the raw paths).
struct Row {
    id: i64,
    name: String,
    email: String,
    score: i64,
    ratio: f64,
    city: String,
    age: i32,
    active: bool,
    note: String,
    seen: DateTime<Utc>,
}

fn row(i: usize, round: usize) -> Row {
    Row {
        id: i as i64,
        name: format!("user {i} r{round}"),
        email: format!("user{i}@example.com"),
        score: (i * 7 + round) as i64,
        ratio: i as f64 / 3.0,
        city: ["Oslo", "Lima", "Kyiv", "Rome"][i % 4].to_string(),
        age: (i % 90) as i32,
        active: i.is_multiple_of(2),
        note: "x".repeat(20 + i % 30),
        seen: DateTime::from_timestamp(1_700_000_000 + i as i64, 0).unwrap_or_default(),
    }
}

/// The row as a transform emits it from a Redis hash: every field text.
fn op(r: &Row) -> RowOp<'static> {
    let t = |s: String| Cell::Text(s.into());
    RowOp::upsert("bench", "bench")
        .key("id", t(r.id.to_string()))
        .value("name", t(r.name.clone()))
        .value("email", t(r.email.clone()))
        .value("score", t(r.score.to_string()))
        .value("ratio", t(r.ratio.to_string()))
        .value("city", t(r.city.clone()))
        .value("age", t(r.age.to_string()))
        .value("active", t(r.active.to_string()))
        .value("note", t(r.note.clone()))
        .value("seen", t(r.seen.to_rfc3339()))
}

const COLUMNS: &str = "id, name, email, score, ratio, city, age, active, note, seen";
const TYPES: [Type; 10] = [
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::FLOAT8,
    Type::TEXT,
    Type::INT4,
    Type::BOOL,
    Type::TEXT,
    Type::TIMESTAMPTZ,
];
const UPDATE: &str = "name = EXCLUDED.name, email = EXCLUDED.email, score = EXCLUDED.score, \
     ratio = EXCLUDED.ratio, city = EXCLUDED.city, age = EXCLUDED.age, active = EXCLUDED.active, \
     note = EXCLUDED.note, seen = EXCLUDED.seen";

fn cells(r: &Row) -> [&(dyn ToSql + Sync); 10] {
    [
        &r.id, &r.name, &r.email, &r.score, &r.ratio, &r.city, &r.age, &r.active, &r.note, &r.seen,
    ]
}

async fn connect(conninfo: &str) -> Res<Client> {
    let (client, conn) = tokio_postgres::connect(conninfo, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Binary COPY of `rows` into a temporary table, then one INSERT ... ON
/// CONFLICT into the target, in one transaction.
async fn copy_upsert(client: &mut Client, schema: &str, rows: &[Row]) -> Res<()> {
    let tx = client.transaction().await?;
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS stage (LIKE \"{schema}\".bench) ON COMMIT DELETE ROWS"
    ))
    .await?;
    let sink = tx
        .copy_in(&format!("COPY stage ({COLUMNS}) FROM STDIN BINARY"))
        .await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &TYPES));
    for r in rows {
        writer.as_mut().write(&cells(r)).await?;
    }
    writer.finish().await?;
    tx.batch_execute(&format!(
        "INSERT INTO \"{schema}\".bench ({COLUMNS}) SELECT {COLUMNS} FROM stage ON CONFLICT (id) DO UPDATE SET {UPDATE}"
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One multi-row VALUES statement per batch, ten bound parameters a row.
async fn values_upsert(client: &mut Client, schema: &str, rows: &[Row]) -> Res<()> {
    let mut sql = format!("INSERT INTO \"{schema}\".bench ({COLUMNS}) VALUES ");
    for i in 0..rows.len() {
        if i > 0 {
            sql.push(',');
        }
        let b = i * 10;
        sql.push('(');
        for c in 1..=10 {
            if c > 1 {
                sql.push(',');
            }
            sql.push_str(&format!("${}", b + c));
        }
        sql.push(')');
    }
    sql.push_str(&format!(" ON CONFLICT (id) DO UPDATE SET {UPDATE}"));
    let params: Vec<&(dyn ToSql + Sync)> = rows.iter().flat_map(cells).collect();
    let tx = client.transaction().await?;
    let types: Vec<Type> = (0..rows.len())
        .flat_map(|_| TYPES.iter().cloned())
        .collect();
    let st = tx.prepare_typed(&sql, &types).await?;
    tx.execute(&st, &params).await?;
    tx.commit().await?;
    Ok(())
}

/// Splits `ops` into batches of `size`, one change per op, each batch with
/// its offsets row as the engine writes it.
fn batches(ops: Vec<RowOp<'static>>, size: usize) -> Vec<Batch<'static>> {
    let mut out = Vec::with_capacity(ops.len() / size.max(1) + 1);
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let n = out.len() + 1;
        out.push(Batch {
            ops: ops
                .by_ref()
                .take(size.max(1))
                .enumerate()
                .map(|(change, op)| TaggedOp { change, op })
                .collect(),
            offsets: vec![StreamOffset {
                job: "bench".into(),
                shard: "0".into(),
                last_id: format!("{n}-0"),
            }],
        });
    }
    out
}

fn rate(rows: usize, secs: f64) -> f64 {
    rows as f64 / secs
}

async fn count(client: &Client, schema: &str) -> Res<i64> {
    Ok(client
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".bench"), &[])
        .await?
        .get(0))
}

async fn postgres(a: &Args) -> Res<()> {
    let schema = format!("wb_bench_sink_{}", std::process::id());
    let mut admin = connect(&a.pg).await?;
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA \"{schema}\";
             CREATE TABLE \"{schema}\".bench (id int8 PRIMARY KEY, name text, email text, score int8,
               ratio float8, city text, age int4, active bool, note text, seen timestamptz);"
        ))
        .await?;
    let result = postgres_runs(a, &schema, &mut admin).await;
    admin
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await?;
    result
}

async fn postgres_runs(a: &Args, schema: &str, admin: &mut Client) -> Res<()> {
    let truncate = format!("TRUNCATE \"{schema}\".bench");
    let vacuum = format!("VACUUM ANALYZE \"{schema}\".bench");
    let mut cfg = PgConfig::new(a.pg.clone());
    cfg.schema = schema.to_string();
    cfg.offsets_schema = schema.to_string();
    let mut sink = PgSink::connect(cfg, &["bench"]).await?;
    println!(
        "PostgreSQL: {} upserts of 10-column rows, batches of {}",
        a.rows, a.batch
    );
    println!("{:<44} {:>12} {:>12}", "method", "insert r/s", "update r/s");
    let methods = [
        "raw: binary COPY + INSERT ON CONFLICT (one load)",
        "sink (UNNEST arrays, text cells converted)",
        "raw: UNNEST per batch",
        "raw: multi-row VALUES per batch",
        "raw: COPY + INSERT ON CONFLICT per batch",
    ];
    let mut results: Vec<Vec<[f64; 2]>> = vec![Vec::new(); methods.len()];
    for run in 0..a.repeat {
        for (at, method) in methods.iter().copied().enumerate() {
            admin.batch_execute(&truncate).await?;
            // VACUUM cannot share a simple-query string with other statements.
            admin.batch_execute(&vacuum).await?;
            let mut rates = [0.0; 2];
            for (round, slot) in rates.iter_mut().enumerate() {
                let rows: Vec<Row> = (0..a.rows).map(|i| row(i, round)).collect();
                // Batches are built before the clock starts: the pipeline hands
                // the sink its ops, it does not copy them.
                let batches: Vec<Batch<'static>> = if method.starts_with("sink") {
                    batches(rows.iter().map(op).collect(), a.batch)
                } else {
                    Vec::new()
                };
                let start = Instant::now();
                match method {
                    m if m.starts_with("raw: binary COPY") => {
                        copy_upsert(admin, schema, &rows).await?
                    }
                    m if m.starts_with("sink") => {
                        for batch in &batches {
                            let report = sink.write(batch).await?;
                            if !report.rejected.is_empty() {
                                return Err(format!("rejected: {:?}", report.rejected[0]).into());
                            }
                        }
                    }
                    m if m.starts_with("raw: UNNEST") => {
                        for chunk in rows.chunks(a.batch) {
                            unnest_upsert(admin, schema, chunk).await?;
                        }
                    }
                    m if m.starts_with("raw: multi-row") => {
                        for chunk in rows.chunks(a.batch) {
                            values_upsert(admin, schema, chunk).await?;
                        }
                    }
                    _ => {
                        for chunk in rows.chunks(a.batch) {
                            copy_upsert(admin, schema, chunk).await?;
                        }
                    }
                }
                *slot = rate(a.rows, start.elapsed().as_secs_f64());
                let n = count(admin, schema).await?;
                if n != a.rows as i64 {
                    return Err(
                        format!("{method}: {n} rows in the table, expected {}", a.rows).into(),
                    );
                }
            }
            if a.repeat > 1 {
                println!(
                    "{:<44} {:>12.0} {:>12.0}",
                    format!("{method} #{}", run + 1),
                    rates[0],
                    rates[1]
                );
            }
            results[at].push(rates);
        }
    }
    let median = |runs: &[[f64; 2]], i: usize| {
        let mut v: Vec<f64> = runs.iter().map(|r| r[i]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    if a.repeat > 1 {
        println!("medians of {} runs:", a.repeat);
    }
    let medians: Vec<[f64; 2]> = results
        .iter()
        .map(|r| [median(r, 0), median(r, 1)])
        .collect();
    for (method, m) in methods.iter().zip(&medians) {
        println!("{method:<44} {:>12.0} {:>12.0}", m[0], m[1]);
    }
    let (raw, sink_rates) = (medians[0], medians[1]);
    println!(
        "sink / raw limit: insert {:.2}, update {:.2}",
        sink_rates[0] / raw[0],
        sink_rates[1] / raw[1]
    );
    Ok(())
}

/// The sink's statement form, without the sink: typed arrays, one a column.
async fn unnest_upsert(client: &mut Client, schema: &str, rows: &[Row]) -> Res<()> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let emails: Vec<&str> = rows.iter().map(|r| r.email.as_str()).collect();
    let scores: Vec<i64> = rows.iter().map(|r| r.score).collect();
    let ratios: Vec<f64> = rows.iter().map(|r| r.ratio).collect();
    let cities: Vec<&str> = rows.iter().map(|r| r.city.as_str()).collect();
    let ages: Vec<i32> = rows.iter().map(|r| r.age).collect();
    let actives: Vec<bool> = rows.iter().map(|r| r.active).collect();
    let notes: Vec<&str> = rows.iter().map(|r| r.note.as_str()).collect();
    let seens: Vec<DateTime<Utc>> = rows.iter().map(|r| r.seen).collect();
    let sql = format!(
        "INSERT INTO \"{schema}\".bench ({COLUMNS}) SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], \
         $4::int8[], $5::float8[], $6::text[], $7::int4[], $8::bool[], $9::text[], $10::timestamptz[]) \
         ON CONFLICT (id) DO UPDATE SET {UPDATE}"
    );
    let tx = client.transaction().await?;
    tx.execute(
        &sql,
        &[
            &ids, &names, &emails, &scores, &ratios, &cities, &ages, &actives, &notes, &seens,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn sqlite(a: &Args) -> Res<()> {
    let dir = std::env::temp_dir().join(format!("wb_bench_sink_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench.db");
    let result = async {
        // The sink creates only its offsets table; the target table is the
        // user's, so the benchmark creates it.
        rusqlite::Connection::open(&path)?.execute_batch(
            "CREATE TABLE bench (id INTEGER PRIMARY KEY, name TEXT, email TEXT, score INTEGER, ratio REAL,
               city TEXT, age INTEGER, active BOOLEAN, note TEXT, seen DATETIME)",
        )?;
        let mut sink = SqliteSink::open(SqliteConfig::new(&path), &["bench"])?;
        println!(
            "SQLite: {} upserts of 10-column rows, batches of {}",
            a.rows, a.batch
        );
        for round in 0..2 {
            let batches = batches((0..a.rows).map(|i| op(&row(i, round))).collect(), a.batch);
            let start = Instant::now();
            for batch in &batches {
                sink.write(batch).await?;
            }
            let what = if round == 0 { "insert" } else { "update" };
            println!(
                "sqlite sink {what}: {:.0} rows/s",
                rate(a.rows, start.elapsed().as_secs_f64())
            );
        }
        Ok::<_, Box<dyn Error>>(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let run = async {
        let a = args()?;
        postgres(&a).await?;
        if a.sqlite {
            sqlite(&a).await?;
        }
        Ok::<_, Box<dyn Error>>(())
    };
    if let Err(e) = run.await {
        eprintln!("wb-bench-sink: {e:?}");
        std::process::exit(1);
    }
}
