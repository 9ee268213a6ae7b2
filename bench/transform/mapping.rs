// The mapping the transform benchmark measures, compiled twice: into the
// guest component (bench/transform/guest) and natively into the benchmark
// binary, so both sides run exactly the same code.
//
// A `user:<id>` hash of ten fields becomes one upsert: the id parsed from the
// key, seven text columns passed through, and three parsed into typed cells.

use wb_abi::{Change, RowOp};

pub fn map_user<'a>(change: &Change<'a>) -> Result<Vec<RowOp<'a>>, String> {
    let id: i64 = change
        .key_part(1)
        .and_then(|id| id.parse().ok())
        .ok_or("expected a key like user:<number>")?;
    if change.is_missing() {
        return Ok(vec![RowOp::delete("target", "users").key("id", id)]);
    }
    let int = |name: &str| change.field_str(name).and_then(|v| v.parse::<i64>().ok());
    let float = |name: &str| change.field_str(name).and_then(|v| v.parse::<f64>().ok());
    Ok(vec![RowOp::upsert("target", "users")
        .key("id", id)
        .value("name", change.field_str("name"))
        .value("email", change.field_str("email"))
        .value("city", change.field_str("city"))
        .value("country", change.field_str("country"))
        .value("plan", change.field_str("plan"))
        .value("created_at", change.field_str("created_at"))
        .value("notes", change.field_str("notes"))
        .value("age", int("age"))
        .value("score", float("score"))
        .value(
            "active",
            change.field_str("active").map(|v| v == "1"),
        )])
}
