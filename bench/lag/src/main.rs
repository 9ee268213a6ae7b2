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
//! table would see.
//!
//! Usage: wb-bench-lag --redis URL --pg CONNINFO [--rate 5000] [--seconds 60]
//! The table `wb_lag.events (seq int8 primary key, f1..f5 text)` must exist
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

/// Sends of the writes, by sequence number, as offsets from the start.
struct Sent(Vec<Option<Duration>>);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let total = args.rate * args.seconds;
    let client = redis::Client::open(args.redis.as_str())?;
    let mut redis = client.get_multiplexed_async_connection().await?;
    let (pg, connection) = tokio_postgres::connect(&args.pg, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let poll = pg
        .prepare("SELECT seq FROM wb_lag.events WHERE seq > $1")
        .await?;

    let start = Instant::now();
    let mut sent = Sent(vec![None; total as usize]);
    let mut lags: Vec<Duration> = Vec::with_capacity(total as usize);
    let mut seen_up_to: i64 = -1;
    let mut seen = vec![false; total as usize];
    // Writes go out on a 1 ms tick, as many as the rate owes by then, so
    // the rate is steady at millisecond scale.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut written: u64 = 0;
    let mut writes_done = Duration::ZERO;
    let deadline = Duration::from_secs(args.seconds) + Duration::from_secs(30);
    loop {
        tick.tick().await;
        let now = start.elapsed();
        let owed = ((now.as_micros() as u64 * args.rate) / 1_000_000).min(total);
        if owed > written {
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
            for seq in written..owed {
                sent.0[seq as usize] = Some(at);
            }
            written = owed;
            writes_done = start.elapsed();
        }
        // Rows visible now.
        let rows = pg.query(&poll, &[&seen_up_to]).await?;
        let polled = start.elapsed();
        for row in rows {
            let seq: i64 = row.get(0);
            let Some(Some(at)) = sent.0.get(seq as usize) else {
                return Err(format!("row {seq} was never written").into());
            };
            if !seen[seq as usize] {
                seen[seq as usize] = true;
                lags.push(polled.saturating_sub(*at));
            }
        }
        while seen_up_to + 1 < total as i64 && seen[(seen_up_to + 1) as usize] {
            seen_up_to += 1;
        }
        if lags.len() as u64 == total {
            break;
        }
        if start.elapsed() > deadline {
            return Err(format!(
                "only {} of {total} rows arrived within {deadline:?}",
                lags.len()
            )
            .into());
        }
    }
    lags.sort();
    let pct = |p: f64| lags[((lags.len() as f64 * p) as usize).min(lags.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| rate/s | seconds | changes | p50 ms | p90 ms | p99 ms | max ms | achieved rate/s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
        args.rate,
        args.seconds,
        total,
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(lags[lags.len() - 1]),
        total as f64 / writes_done.as_secs_f64().max(1e-9)
    );
    Ok(())
}
