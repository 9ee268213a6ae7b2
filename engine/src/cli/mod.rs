//! The subcommands of the `wb-engine` binary, one file each (binary-only
//! code: the library has no `cli` module). Each parses its options with
//! clap and calls the library; what it prints is its user interface.

pub mod compile;
pub mod run;
pub mod test;
pub mod validate;

use std::path::PathBuf;

/// Options shared by the commands that load declarative jobs.
#[derive(clap::Args)]
pub struct MapperArgs {
    /// The stock mapper component, which runs declarative jobs (default:
    /// target/guests/wasm32-wasip2/release/wb_mapper_component.wasm beside
    /// this binary's build directory).
    #[arg(long, env = "WB_MAPPER_COMPONENT")]
    mapper: Option<PathBuf>,
}

impl MapperArgs {
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        self.mapper
            .clone()
            .or_else(wb_engine::run::default_mapper_path)
            .ok_or_else(|| {
                anyhow::anyhow!("cannot tell where the mapper component is: pass --mapper")
            })
    }
}
