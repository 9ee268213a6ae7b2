//! A step that upper-cases a hash's `name` and adds a `stepped` field (the
//! `mark` param, default `1`), and misbehaves on purpose so the host can be
//! tested: `trap:*` panics, `loop:*` never returns, `reject:*` returns an
//! error, `drop:*` drops the change. It rejects any change it should never
//! be sent (a missing value, a flush), so a test sees if one reaches it.

use wb_guest::{Change, HashRecord, Params, Step, StepResult};

struct Fixture {
    mark: String,
}

impl Step for Fixture {
    fn init(params: &Params) -> Result<Self, String> {
        if params.get("refuse").is_some() {
            return Err("told to refuse".into());
        }
        Ok(Fixture {
            mark: params.get_or("mark", "1").to_string(),
        })
    }

    fn step(&self, change: &Change<'_>) -> StepResult {
        if change.is_missing() || change.is_flush() {
            return Err(format!("the step was sent event {}", change.event));
        }
        let key = change.key_str().ok_or("key is not UTF-8")?;
        if key.starts_with("trap:") {
            panic!("step told to trap on {key}");
        }
        if key.starts_with("loop:") {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        if key.starts_with("reject:") {
            return Err(format!("step says no: {key}"));
        }
        if key.starts_with("drop:") {
            return Ok(None);
        }
        let mut record = HashRecord::from_change(change).ok_or("not a hash")?;
        if let Some(name) = record.get_str("name") {
            let upper = name.to_uppercase();
            record.set("name", upper);
        }
        record.set("stepped", self.mark.as_str());
        Ok(Some(record.into_value()))
    }
}

wb_guest::export_step!(Fixture);
