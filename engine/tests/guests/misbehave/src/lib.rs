//! A guest that maps `user:<id>` hashes to `users` upserts and deletes, and
//! misbehaves on purpose so the host's limits can be tested:
//! `trap:*` panics, `loop:*` never returns, `oom:*` allocates without bound,
//! `reject:*` returns an error, `log:*` writes a log line first, and
//! `probe:*` reports what the sandbox lets it see. Its `init` refuses when
//! given the param `refuse` and panics when given `panic`.

use wb_guest::{Change, LogLevel, Params, RowOp, Transform};

struct Fixture {
    table: String,
}

impl Transform for Fixture {
    fn init(params: &Params) -> Result<Self, String> {
        if params.get("refuse").is_some() {
            return Err("told to refuse".into());
        }
        if params.get("panic").is_some() {
            panic!("told to panic in init");
        }
        Ok(Fixture {
            table: params.get_or("table", "users").to_string(),
        })
    }

    fn map<'a>(&'a self, change: &Change<'a>) -> Result<Vec<RowOp<'a>>, String> {
        let key = change.key_str().ok_or("key is not UTF-8")?;
        if key.starts_with("trap:") {
            panic!("told to trap on {key}");
        }
        if key.starts_with("loop:") {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        if key.starts_with("oom:") {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        if key.starts_with("reject:") {
            return Err(format!("no thanks: {key}"));
        }
        if key.starts_with("probe:") {
            return Ok(vec![probe()]);
        }
        if key.starts_with("log:") {
            wb_guest::log(LogLevel::Info, &format!("saw {key}"));
        }
        let id = change.key_part(1).ok_or("key has no id part")?;
        if change.is_missing() {
            return Ok(vec![
                RowOp::delete("target", self.table.clone()).key("id", id)
            ]);
        }
        Ok(vec![RowOp::upsert("target", self.table.clone())
            .key("id", id)
            .value("name", change.field_str("name"))
            .value("event", change.event)])
    }
}

/// What the guest can reach: files, environment, arguments and the clock.
fn probe() -> RowOp<'static> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(-1);
    RowOp::insert("target", "probe")
        .value("root_dir_readable", std::fs::read_dir("/").is_ok())
        .value("cwd_readable", std::fs::read_dir(".").is_ok())
        .value("env_vars", std::env::vars().count() as i64)
        .value("args", std::env::args().count() as i64)
        .value("unix_seconds", now)
}

wb_guest::export!(Fixture);
