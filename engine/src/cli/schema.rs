//! `wb-engine schema JOB [--dir DIR]`: CREATE TABLE statements for a job's
//! target tables.

use std::path::PathBuf;

use wb_engine::control::schema::{statements, Dialect};
use wb_engine::project::Project;

#[derive(clap::Args)]
#[command(after_help = "\
Columns are the output's keys, then its mapping. A column is text unless its expression \
says otherwise (a comparison is boolean, length() an integer, to_number() numeric, \
json_parse() and arrays JSON, uuid() a uuid, a sorted set's score a double). A table of \
one row per key gets its keys as primary key; child rows (foreach, set members) get an \
index on the keys instead; append tables get neither.

Examples:
  wb-engine schema users | sqlite3 target.db
  wb-engine schema orders --dir my-project | psql -h db -d app")]
pub struct Args {
    /// The job's name: its file's stem in jobs/ (jobs/NAME.yaml), or its
    /// folder's name for jobs/NAME/job.yaml.
    job: String,
    /// The project directory: config.yaml and jobs/*.yaml.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Write this dialect instead of each output connection's.
    #[arg(long, value_enum)]
    dialect: Option<DialectArg>,
    /// Write CREATE TABLE IF NOT EXISTS (and CREATE INDEX IF NOT EXISTS).
    #[arg(long)]
    if_not_exists: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DialectArg {
    #[value(alias = "postgres")]
    Postgresql,
    Sqlite,
    /// Not built yet: wb cannot write to MySQL/MariaDB.
    #[value(alias = "mariadb")]
    Mysql,
}

/// Prints the statements on stdout.
pub fn schema(args: Args) -> anyhow::Result<()> {
    let dialect = match args.dialect {
        None => None,
        Some(DialectArg::Postgresql) => Some(Dialect::Postgresql),
        Some(DialectArg::Sqlite) => Some(Dialect::Sqlite),
        Some(DialectArg::Mysql) => anyhow::bail!(
            "there is no MySQL dialect: wb cannot write to MySQL/MariaDB yet \
             (--dialect postgresql or --dialect sqlite)"
        ),
    };
    let project = Project::load(&args.dir)?;
    let job = project.job(&args.job)?;
    print!(
        "{}",
        statements(job, &project.settings, dialect, args.if_not_exists)?
    );
    Ok(())
}
