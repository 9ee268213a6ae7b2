//! A wb transform component. Edit `map`; build the component with
//!
//! ```text
//! cargo build --target wasm32-wasip2 --release
//! ```
//!
//! and point a job at `target/wasm32-wasip2/release/wb_transform_template.wasm`.

use wb_guest::{Change, Params, RowOp, Transform};

/// Parsed params, built once per instance.
pub struct Users {
    connection: String,
    table: String,
}

impl Transform for Users {
    fn init(params: &Params) -> Result<Self, String> {
        Ok(Users {
            connection: params.get_or("connection", "target").to_string(),
            table: params.get_or("table", "users").to_string(),
        })
    }

    /// `user:<id>` hashes become rows of `users`; a deleted key deletes its row.
    fn map<'a>(&'a self, change: &Change<'a>) -> Result<Vec<RowOp<'a>>, String> {
        let id = change.key_part(1).ok_or("expected a key like user:<id>")?;
        // Row ops may borrow from `self` and from the change: no copies.
        let (conn, table) = (self.connection.as_str(), self.table.as_str());
        if change.is_missing() {
            return Ok(vec![RowOp::delete(conn, table).key("id", id)]);
        }
        Ok(vec![RowOp::upsert(conn, table)
            .key("id", id)
            .value("name", change.field_str("name"))
            .value("email", change.field_str("email"))])
    }
}

wb_guest::export!(Users);

#[cfg(test)]
mod tests {
    use super::*;
    use wb_guest::{encode_changes, run_batch, Cell, ChangeData, OpKind, ResultReader, ValueData};

    #[test]
    fn maps_a_hash_and_a_delete() {
        let users = Users::init(&Params::default()).unwrap();
        let changes = [
            ChangeData {
                key: b"user:7".to_vec(),
                event: "hset".into(),
                stream_id: "1-0".into(),
                value: ValueData::Hash(vec![(b"name".to_vec(), b"Ada".to_vec())]),
            },
            ChangeData {
                key: b"user:8".to_vec(),
                event: "del".into(),
                stream_id: "1-1".into(),
                value: ValueData::Missing,
            },
        ];
        let out = run_batch(&encode_changes(&changes), |c| users.map(c)).unwrap();
        let results: Vec<_> = ResultReader::new(&out)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let upsert = &results[0].as_ref().unwrap()[0];
        assert_eq!(upsert.key[0].value, Cell::from("7"));
        assert_eq!(upsert.values[0].value, Cell::from("Ada"));
        assert_eq!(upsert.values[1].value, Cell::Null);
        assert_eq!(results[1].as_ref().unwrap()[0].kind, OpKind::Delete);
    }
}
