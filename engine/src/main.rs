//! `wb-engine`: the command-line entry point. Parses arguments and calls the
//! library; errors go to stderr with their whole chain.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::sync::watch;

/// wb: Redis write-behind with WebAssembly transforms.
#[derive(Parser)]
#[command(name = "wb-engine", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Registers the project's jobs with the capture module and writes their
    /// changes to the target until stopped (SIGINT or SIGTERM: the batch in
    /// flight finishes and is acknowledged first).
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The project directory: config.yaml and jobs/*.yaml.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The Redis/Valkey primary to read from.
    #[arg(long, env = "WB_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// The stock mapper component (default: target/guests/... beside this binary).
    #[arg(long, env = "WB_MAPPER_COMPONENT")]
    mapper: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wb-engine: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let project = wb_engine::run::Project::load(&args.dir)?;
    let mapper = args
        .mapper
        .or_else(wb_engine::run::default_mapper_path)
        .ok_or_else(|| {
            anyhow::anyhow!("cannot tell where the mapper component is: pass --mapper")
        })?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stopping: finishing the batch in flight");
            let _ = stop.send(true);
        });
        let stats = wb_engine::run::run(&project, &args.redis_url, &mapper, stopped).await?;
        tracing::info!(
            batches = stats.batches,
            entries = stats.entries,
            delivered = stats.delivered,
            dead_letters = stats.dead_letters,
            retries = stats.retries,
            fetch_ms = stats.timings.fetch.as_millis() as u64,
            transform_ms = stats.timings.transform.as_millis() as u64,
            write_ms = stats.timings.write.as_millis() as u64,
            acknowledge_ms = stats.timings.acknowledge.as_millis() as u64,
            "stopped"
        );
        Ok(())
    })
}

async fn wait_for_signal() {
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
