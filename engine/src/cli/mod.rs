//! The subcommands of the `wb-engine` binary, one file each (binary-only
//! code: the library has no `cli` module). Each parses its options with
//! clap and calls the library; what it prints is its user interface.

pub mod backfill;
pub mod compile;
pub mod deploy;
pub mod dlq;
pub mod jobs;
pub mod pause;
pub mod run;
pub mod scaffold;
pub mod schema;
pub mod status;
pub mod test;
pub mod trace;
pub mod validate;

use std::path::PathBuf;

/// The Redis/Valkey server, for the commands that talk to it.
#[derive(clap::Args)]
pub struct RedisArgs {
    /// The Redis/Valkey primary (with the capture module loaded).
    #[arg(long, env = "WB_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
}

/// A tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Runtime::new()?)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

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
