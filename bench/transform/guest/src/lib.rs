//! The benchmark mapping (`../mapping.rs`) exported as a component.

#[path = "../../mapping.rs"]
mod mapping;

use wb_guest::{Change, Params, RowOp, Transform};

struct Bench;

impl Transform for Bench {
    fn init(_params: &Params) -> Result<Self, String> {
        Ok(Bench)
    }

    fn map<'a>(&'a self, change: &Change<'a>) -> Result<Vec<RowOp<'a>>, String> {
        mapping::map_user(change)
    }
}

wb_guest::export!(Bench);
