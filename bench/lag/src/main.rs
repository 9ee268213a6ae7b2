//! Lag benchmark: writes hashes to Redis at a steady rate while a running
//! `wb-engine` carries them to PostgreSQL, and measures, for every write,
//! the time until its row is visible to another PostgreSQL session.
//!
//! Each write is a new key `lag:<seq>` (so every change becomes one row),
//! its send time kept in memory. A poller on its own PostgreSQL connection
//! asks every millisecond for rows with a higher `seq` than it has seen;
//! a row's lag is the poll's time minus its write's send time. The figure
//! therefore includes up to one polling interval (plus a query's round
//! trip) on top of the engine's own latency: it is what a reader of the
//! table would see. A second figure stops the clock earlier, when the row
//! was inserted (the table's `landed` column, `clock_timestamp()` by
//! default): that leaves out the commit and the polling.
//!
//! Usage: wb-bench-lag --redis URL --pg CONNINFO [--rate 5000] [--seconds 60]
//! The table `wb_lag.events (seq int8 primary key, f2..f5 text, landed
//! timestamptz default clock_timestamp())` must exist
//! and a job must map `lag:*` into it; bench/lag.sh sets all of that up.

use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;

struct Args {
    redis: String,
    pg: String,
    rate: u64,
    seconds: u64,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        redis: "redis://127.0.0.1:6379".into(),
        pg: "host=127.0.0.1 port=5432 user=postgres dbname=test".into(),
        rate: 5000,
        seconds: 60,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--redis" => out.redis = value.clone(),
            "--pg" => out.pg = value.clone(),
            "--rate" => out.rate = number()?.max(1),
            "--seconds" => out.seconds = number()?.max(1),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(out)
}

/// Writes `lag:0`, `lag:1`, ... at `rate` per second: on a 1 ms tick, as
/// many as the rate owes by then, so the rate is steady at millisecond
/// scale. Returns each write's send time, from `start`, by sequence number,
/// and when the last one went.
async fn write(
    mut redis: redis::aio::MultiplexedConnection,
    start: Instant,
    rate: u64,
    total: u64,
) -> redis::RedisResult<(Vec<Duration>, Duration)> {
    let mut sent = Vec::with_capacity(total as usize);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut written: u64 = 0;
    while written < total {
        tick.tick().await;
        let owed = ((start.elapsed().as_micros() as u64 * rate) / 1_000_000).min(total);
        if owed == written {
            continue;
        }
        let mut pipe = redis::pipe();
        for seq in written..owed {
            pipe.cmd("HSET")
                .arg(format!("lag:{seq}"))
                .arg("f1")
                .arg(seq)
                .arg("f2")
                .arg("some text of a realistic length")
                .arg("f3")
                .arg("another field")
                .arg("f4")
                .arg("x")
                .arg("f5")
                .arg("y")
                .ignore();
        }
        let at = start.elapsed();
        let () = pipe.query_async(&mut redis).await?;
        sent.extend((written..owed).map(|_| at));
        written = owed;
    }
    Ok((sent, start.elapsed()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let total = args.rate * args.seconds;
    let client = redis::Client::open(args.redis.as_str())?;
    let redis = client.get_multiplexed_async_connection().await?;
    let (pg, connection) = tokio_postgres::connect(&args.pg, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    // The table grows by the rate every second and its statistics lag
    // behind, so the planner may pick a scan of the whole table for
    // `seq > $1`; this session only ever wants the primary key, so a poll
    // costs the same at the end of the run as at its start.
    pg.batch_execute("SET plan_cache_mode = force_custom_plan; SET enable_seqscan = off")
        .await?;
    let poll = pg
        .prepare(
            "SELECT seq, (extract(epoch FROM landed) * 1000000)::int8 FROM wb_lag.events \
             WHERE seq > $1",
        )
        .await?;

    let start = Instant::now();
    // The same instant on the wall clock, to place PostgreSQL's `landed`
    // times (clock_timestamp() when the row was inserted) on our timeline.
    let start_wall_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as i64;
    // The writer runs on its own connection and task, so polling never
    // waits for a write, nor a write for a poll.
    let writer = tokio::spawn(write(redis, start, args.rate, total));

    // When each row was first seen, and when it was inserted.
    let mut visible: Vec<Option<(Duration, Duration)>> = vec![None; total as usize];
    let mut seen_count: u64 = 0;
    let mut seen_up_to: i64 = -1;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let deadline = Duration::from_secs(args.seconds) + Duration::from_secs(30);
    let mut polls: u64 = 0;
    let mut rows_read: u64 = 0;
    while seen_count < total {
        tick.tick().await;
        let rows = pg.query(&poll, &[&seen_up_to]).await?;
        polls += 1;
        rows_read += rows.len() as u64;
        let polled = start.elapsed();
        for row in rows {
            let seq: i64 = row.get(0);
            let slot = usize::try_from(seq)
                .ok()
                .and_then(|i| visible.get_mut(i))
                .ok_or_else(|| format!("row {seq} was never written"))?;
            if slot.is_none() {
                let landed_us: i64 = row.get(1);
                let landed = Duration::from_micros((landed_us - start_wall_us).max(0) as u64);
                *slot = Some((polled, landed));
                seen_count += 1;
            }
        }
        while seen_up_to + 1 < total as i64 && visible[(seen_up_to + 1) as usize].is_some() {
            seen_up_to += 1;
        }
        if start.elapsed() > deadline {
            return Err(
                format!("only {seen_count} of {total} rows arrived within {deadline:?}").into(),
            );
        }
    }
    let (sent, writes_done) = writer.await??;
    eprintln!(
        "{polls} polls in {:.1} s, {rows_read} rows read for {total} rows",
        start.elapsed().as_secs_f64()
    );
    let mut lags: Vec<Duration> = Vec::with_capacity(total as usize);
    let mut inserted: Vec<Duration> = Vec::with_capacity(total as usize);
    for (at, seen) in sent.iter().zip(&visible) {
        if let Some((polled, landed)) = seen {
            lags.push(polled.saturating_sub(*at));
            inserted.push(landed.saturating_sub(*at));
        }
    }
    lags.sort();
    inserted.sort();
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| rate/s | seconds | changes | measured to | p50 ms | p90 ms | p99 ms | max ms | achieved rate/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (what, v) in [("visible to a reader", &lags), ("row inserted", &inserted)] {
        println!(
            "| {} | {} | {} | {what} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
            args.rate,
            args.seconds,
            total,
            ms(pct(v, 0.50)),
            ms(pct(v, 0.90)),
            ms(pct(v, 0.99)),
            ms(v[v.len() - 1]),
            total as f64 / writes_done.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}
