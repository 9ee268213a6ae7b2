//! The stock mapper as a component: the job's outputs arrive compiled into
//! the `spec` param (see `wb_mapper::Spec`), parsed once per instance.

use wb_guest::{Change, Params, RowOp, Transform};
use wb_mapper::{apply, Spec};

struct Mapper {
    spec: Spec,
}

impl Transform for Mapper {
    fn init(params: &Params) -> Result<Self, String> {
        let text = params.get("spec").ok_or("the mapper needs a spec param")?;
        let spec = Spec::parse(text).map_err(|e| e.to_string())?;
        Ok(Mapper { spec })
    }

    fn map<'a>(&'a self, change: &Change<'a>) -> Result<Vec<RowOp<'a>>, String> {
        apply(&self.spec, change)
    }
}

wb_guest::export!(Mapper);
