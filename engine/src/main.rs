//! `wb-engine`: the command-line entry point. Parses arguments and calls the
//! subcommand in `cli/`; errors go to stderr with their whole chain.
//!
//! Exit codes: 0 success; 1 a failure (invalid project, failing test case,
//! an error); 2 a usage error (clap); 130 a backfill interrupted (resumable).

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// wb: Redis write-behind with WebAssembly transforms.
#[derive(Parser)]
#[command(
    name = "wb-engine",
    version,
    about,
    after_help = "Exit codes: 0 success; 1 a failure (printed with its cause); 2 a usage error; \
                  130 a backfill interrupted (run it again to resume).\n\
                  Commands that talk to Redis take --redis-url or WB_REDIS_URL \
                  (default redis://127.0.0.1:6379)."
)]
struct Cli {
    /// How log lines are written to stderr: `text` for people, `json` (one
    /// object a line: timestamp, level, target, message and fields) for log
    /// collectors. RUST_LOG sets the level (default: info).
    #[arg(long, global = true, env = "WB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Checks config.yaml and every jobs/*.yaml, and the jobs against the
    /// config; reports every problem with file, line and field.
    Validate(cli::validate::Args),
    /// Compiles a job file into a bundle (component, params, manifest) and
    /// prints its path and content hash.
    Compile(cli::compile::Args),
    /// Runs a job's test cases (Redis values in, expected row ops out)
    /// through its component.
    Test(cli::test::Args),
    /// Checks the project, compiles every job and stores the config and the
    /// bundles in Redis, for engines started without --dir to run.
    Deploy(cli::deploy::Args),
    /// Registers the jobs with the capture module and writes their changes
    /// to the target until stopped (SIGINT or SIGTERM: the batch in flight
    /// finishes and is acknowledged first): a project directory's with
    /// --dir, else what `deploy` stored in Redis, following each new deploy.
    Run(cli::run::Args),
    /// Prints the changes a job will process next (or one key's latest
    /// change) and the row ops it makes of them, without writing or
    /// acknowledging anything.
    Trace(cli::trace::Args),
    /// A job's dead-letter queue: list, replay (send the keys through the
    /// job again) or purge.
    Dlq(cli::dlq::Args),
    /// Enqueues the keys that existed before a job (SCAN with its pattern)
    /// as changes for the running engine; shows progress; interruptible and
    /// resumable.
    Backfill(cli::backfill::Args),
    /// Prints CREATE TABLE statements for a job's target tables, in the
    /// dialect of each output's connection (PostgreSQL or SQLite).
    Schema(cli::schema::Args),
    /// Per job and shard: state, stream length, pending, lag, changes
    /// read, written and rejected (the engine's counters, kept in Redis),
    /// and with --live the rate.
    Status(cli::status::Args),
    /// Stops reading a job's changes (every shard); they gather in its
    /// stream until `resume`. Other jobs go on.
    Pause(cli::pause::Args),
    /// Reads a paused job's changes again; the engine catches up.
    Resume(cli::pause::Args),
    /// The jobs the capture module tracks: list, describe NAME, remove NAME.
    Jobs(cli::jobs::Args),
    /// Writes a new project: config.yaml, one job with test cases, and a
    /// Rust transform crate that builds against wb's guest SDK.
    Scaffold(cli::scaffold::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    let result = match cli.command {
        Command::Validate(args) => Ok(cli::validate::validate(args)),
        Command::Compile(args) => cli::compile::compile(args).map(|()| ExitCode::SUCCESS),
        Command::Test(args) => cli::test::test(args),
        Command::Deploy(args) => cli::deploy::deploy(args).map(|()| ExitCode::SUCCESS),
        Command::Run(args) => cli::run::run(args).map(|()| ExitCode::SUCCESS),
        Command::Trace(args) => cli::trace::trace(args).map(|()| ExitCode::SUCCESS),
        Command::Dlq(args) => cli::dlq::dlq(args).map(|()| ExitCode::SUCCESS),
        Command::Backfill(args) => cli::backfill::backfill(args),
        Command::Schema(args) => cli::schema::schema(args).map(|()| ExitCode::SUCCESS),
        Command::Status(args) => cli::status::status(args).map(|()| ExitCode::SUCCESS),
        Command::Pause(args) => cli::pause::pause(args, true).map(|()| ExitCode::SUCCESS),
        Command::Resume(args) => cli::pause::pause(args, false).map(|()| ExitCode::SUCCESS),
        Command::Jobs(args) => cli::jobs::jobs(args).map(|()| ExitCode::SUCCESS),
        Command::Scaffold(args) => cli::scaffold::scaffold(args).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("wb-engine: {e:#}");
        ExitCode::from(1)
    })
}
