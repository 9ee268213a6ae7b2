//! A project directory (`config.yaml` and `jobs/*.yaml`) read and checked
//! as a whole: every problem in every file is collected, not just the
//! first, so `validate` can report them all and `run` refuses exactly what
//! `validate` refuses.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::bundle::{JobPlan, PlannedComponent};
use crate::config::{
    closest_name, nth_line_of, unknown_connections, ConfigError, EnvString, PortValue, Settings,
};

/// A project whose files are all valid.
#[derive(Debug)]
pub struct Project {
    pub dir: PathBuf,
    pub settings: Settings,
    /// In file-name order.
    pub jobs: Vec<JobPlan>,
    /// Things that do not make the files invalid but will stop a run:
    /// `${ENV}` references to unset variables (named, never resolved),
    /// custom components not built yet.
    pub warnings: Vec<ConfigError>,
}

/// Every problem found in a project, each naming its file, line and field.
#[derive(Debug)]
pub struct ProjectProblems(pub Vec<ConfigError>);

impl fmt::Display for ProjectProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "{count} problem{} in the project:",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProjectProblems {}

/// A job name that is not one of the project's.
#[derive(Debug, thiserror::Error)]
#[error("{dir} has no job '{name}' (its jobs: {known}){hint}")]
pub struct UnknownJob {
    pub name: String,
    pub dir: String,
    pub known: String,
    pub hint: String,
}

impl Project {
    /// Reads `dir/config.yaml` and every `dir/jobs/*.yaml` (and `*.yml`;
    /// `*.cases.yaml` files are test cases and are skipped), checks each and
    /// checks the jobs against the config.
    pub fn load(dir: &Path) -> Result<Project, ProjectProblems> {
        let mut problems = Vec::new();
        let config_file = dir.join("config.yaml");
        let config_text = ConfigError::read(&config_file);
        let settings = config_text
            .as_ref()
            .map_err(|e| vec![e.clone()])
            .and_then(|text| Settings::parse_all(&config_file, text))
            .map_err(|e| problems.extend(e))
            .ok();
        let mut jobs = Vec::new();
        for file in job_files(dir)
            .map_err(|e| problems.push(e))
            .unwrap_or_default()
        {
            match JobPlan::load(&file) {
                Ok(plan) => jobs.push(plan),
                Err(e) => problems.push(e),
            }
        }
        let mut names: BTreeMap<&str, &Path> = BTreeMap::new();
        for plan in &jobs {
            if let Some(first) = names.insert(&plan.name, &plan.file) {
                problems.push(ConfigError {
                    file: plan.file.clone(),
                    line: 0,
                    field: None,
                    message: format!(
                        "job name '{}' is also the name of {}",
                        plan.name,
                        first.display()
                    ),
                });
            }
        }
        let mut warnings = Vec::new();
        if let Some(settings) = &settings {
            for plan in &jobs {
                problems.extend(unknown_connections(
                    &plan.file, &plan.text, &plan.job, settings,
                ));
            }
            let text = config_text.as_deref().unwrap_or_default();
            warnings.extend(unset_variables(&config_file, text, settings));
        }
        for plan in &jobs {
            // The job's wasm components, in file order: its steps, or the
            // one component that makes its rows.
            let mut components: Vec<(usize, &Path)> = plan
                .steps
                .iter()
                .map(|step| (step.index, step.path.as_path()))
                .collect();
            if let PlannedComponent::Custom { path, .. } = &plan.component {
                components.push((0, path));
            }
            for (n, (index, path)) in components.into_iter().enumerate() {
                if !path.exists() {
                    warnings.push(ConfigError {
                        file: plan.file.clone(),
                        line: nth_line_of(&plan.text, "component:", n),
                        field: Some(format!("transform[{index}].with.component")),
                        message: format!(
                            "{} does not exist yet: build the component before compile, test or run",
                            path.display()
                        ),
                    });
                }
            }
        }
        match settings {
            Some(settings) if problems.is_empty() => Ok(Project {
                dir: dir.to_path_buf(),
                settings,
                jobs,
                warnings,
            }),
            _ => Err(ProjectProblems(problems)),
        }
    }
}

impl Project {
    /// The job named `name` (a job's name is its file's stem, or its
    /// folder's name for a `job.yaml`).
    pub fn job(&self, name: &str) -> Result<&JobPlan, UnknownJob> {
        if let Some(job) = self.jobs.iter().find(|j| j.name == name) {
            return Ok(job);
        }
        let names: Vec<&str> = self.jobs.iter().map(|j| j.name.as_str()).collect();
        Err(UnknownJob {
            name: name.to_owned(),
            dir: self.dir.join("jobs").display().to_string(),
            known: names.join(", "),
            hint: closest_name(name, names.iter().copied())
                .map(|n| format!(" (did you mean '{n}'?)"))
                .unwrap_or_default(),
        })
    }
}

/// The job files of a project, sorted; an error when there are none.
fn job_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let jobs_dir = dir.join("jobs");
    let problem = |message: String| ConfigError {
        file: jobs_dir.clone(),
        line: 0,
        field: None,
        message,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&jobs_dir)
        .map_err(|e| problem(format!("cannot read: {e}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .filter(|p| !is_cases_file(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(problem("no job files (jobs/*.yaml)".into()));
    }
    Ok(files)
}

/// `NAME.cases.yaml` beside a job holds its test cases, not a job.
fn is_cases_file(path: &Path) -> bool {
    path.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|stem| stem.ends_with(".cases"))
}

/// A warning for each `${NAME}` in a connection whose variable is not set
/// in this environment. Only the name is shown, never a value.
fn unset_variables(file: &Path, text: &str, settings: &Settings) -> Vec<ConfigError> {
    let mut warnings = Vec::new();
    for (name, connection) in &settings.connections {
        let port = match &connection.port {
            Some(PortValue::Text(text)) => Some(text),
            _ => None,
        };
        let fields: [(&str, Option<&EnvString>); 6] = [
            ("host", connection.host.as_ref()),
            ("port", port),
            ("database", connection.database.as_ref()),
            ("user", connection.user.as_ref()),
            ("password", connection.password.as_ref()),
            ("path", connection.path.as_ref()),
        ];
        for (field, value) in fields {
            let Some(value) = value else { continue };
            for variable in value.references() {
                if std::env::var_os(variable).is_none() {
                    warnings.push(ConfigError {
                        file: file.to_path_buf(),
                        line: nth_line_of(text, &format!("${{{variable}}}"), 0),
                        field: Some(format!("connections.{name}.{field}")),
                        message: format!(
                            "environment variable {variable} is not set (it is read when the engine runs)"
                        ),
                    });
                }
            }
        }
    }
    warnings
}

/// Passwords written in clear in config.yaml (`text`, read from `file`):
/// `deploy` stores the config in Redis, where no secret may go, so each is
/// an error asking for a `${ENV}` reference, resolved where the engine runs.
pub fn clear_passwords(file: &Path, text: &str, settings: &Settings) -> Vec<ConfigError> {
    settings
        .connections
        .iter()
        .filter(|(_, c)| {
            c.password
                .as_ref()
                .is_some_and(|p| p.references().is_empty() && !p.raw().is_empty())
        })
        .map(|(name, _)| ConfigError {
            file: file.to_path_buf(),
            line: line_in_block(text, name, "password:"),
            field: Some(format!("connections.{name}.password")),
            message: "a password written in clear would be stored in Redis by deploy: write \
                      it as ${ENV_VAR}, resolved where the engine runs"
                .to_owned(),
        })
        .collect()
}

/// The 1-based line of the first `field` line after the line that opens
/// block `name:` (0 when not found).
fn line_in_block(text: &str, name: &str, field: &str) -> usize {
    let opening = format!("{name}:");
    let mut lines = text.lines().enumerate();
    if !lines.any(|(_, line)| line.trim() == opening) {
        return 0;
    }
    lines
        .find(|(_, line)| line.trim_start().starts_with(field))
        .map_or(0, |(at, _)| at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_clear_are_found_with_their_line_and_references_are_not() {
        let text = "connections:\n  a:\n    type: postgresql\n    host: h\n    database: d\n    password: ${PG_PASS}\n  b:\n    type: postgresql\n    host: h\n    database: d\n    user: me\n    password: hunter2\n";
        let file = Path::new("config.yaml");
        let settings = Settings::parse_all(file, text).unwrap_or_else(|e| panic!("{e:?}"));
        let found = clear_passwords(file, text, &settings);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, 12);
        assert_eq!(found[0].field.as_deref(), Some("connections.b.password"));
        assert!(!found[0].to_string().contains("hunter2"), "{}", found[0]);
    }

    struct Dir(PathBuf);

    impl Dir {
        fn new(label: &str, files: &[(&str, &str)]) -> Dir {
            let dir =
                std::env::temp_dir().join(format!("wb-project-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            for (name, text) in files {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const CONFIG: &str =
        "connections:\n  target:\n    type: sqlite\n    path: ${WB_TEST_PROJECT_UNSET_PATH}\n";
    const USERS: &str = "source: {redis: {key_pattern: \"user:*\"}}\noutput:\n  - uses: relational.write\n    with: {connection: target, table: users, keys: [id], mapping: [name]}\n";

    #[test]
    fn a_good_project_loads_with_its_warnings() {
        let dir = Dir::new(
            "good",
            &[
                ("config.yaml", CONFIG),
                ("jobs/users.yaml", USERS),
                ("jobs/users.cases.yaml", "cases: []\n"),
            ],
        );
        let project = Project::load(&dir.0).unwrap();
        assert_eq!(project.jobs.len(), 1);
        assert_eq!(project.jobs[0].name, "users");
        assert_eq!(project.job("users").unwrap().name, "users");
        let err = project.job("user").unwrap_err().to_string();
        assert!(
            err.ends_with("has no job 'user' (its jobs: users) (did you mean 'users'?)"),
            "{err}"
        );
        assert_eq!(project.warnings.len(), 1);
        let warning = project.warnings[0].to_string();
        assert!(
            warning.ends_with("config.yaml:4: connections.target.path: environment variable WB_TEST_PROJECT_UNSET_PATH is not set (it is read when the engine runs)"),
            "{warning}"
        );
    }

    #[test]
    fn every_problem_of_every_file_is_collected() {
        let dir = Dir::new(
            "bad",
            &[
                ("config.yaml", CONFIG),
                ("jobs/a.yaml", &USERS.replace("key_pattern", "key_patern")),
                (
                    "jobs/b.yaml",
                    &USERS.replace("connection: target", "connection: targe"),
                ),
                ("jobs/c.yaml", "source: [\n"),
            ],
        );
        let problems = Project::load(&dir.0).unwrap_err().0;
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{shown:#?}");
        assert!(
            shown[0].contains("a.yaml:1") && shown[0].contains("did you mean `key_pattern`"),
            "{shown:#?}"
        );
        assert!(shown[1].contains("c.yaml:"), "{shown:#?}");
        assert!(
            shown[2].contains("b.yaml:4: output[0].with.connection: connection 'targe' is not in config.yaml (known: target) (did you mean `target`?)"),
            "{shown:#?}"
        );
    }

    #[test]
    fn duplicate_names_and_unbuilt_components() {
        let wasm = "source: {redis: {key_pattern: \"c:*\"}}\ntransform:\n  - uses: wasm\n    with:\n      component: ./not-built.wasm\n";
        let dir = Dir::new(
            "dup",
            &[
                ("config.yaml", CONFIG),
                ("jobs/users.yaml", USERS),
                ("jobs/users.yml", USERS),
            ],
        );
        let problems = Project::load(&dir.0).unwrap_err().0;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].file.ends_with("users.yml"));
        assert!(
            problems[0].message.contains("also the name of"),
            "{}",
            problems[0]
        );

        let dir = Dir::new("unbuilt", &[("config.yaml", CONFIG), ("jobs/c.yaml", wasm)]);
        let project = Project::load(&dir.0).unwrap();
        let warning = project
            .warnings
            .iter()
            .find(|w| w.file.ends_with("c.yaml"))
            .expect("a warning for the component");
        assert_eq!(warning.line, 5);
        assert!(
            warning
                .message
                .contains("not-built.wasm does not exist yet"),
            "{warning}"
        );
    }

    #[test]
    fn a_missing_config_and_jobs_folder_are_both_reported() {
        let dir = Dir::new("empty", &[("README", "")]);
        let problems = Project::load(&dir.0).unwrap_err().0;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].file.ends_with("config.yaml"));
        assert!(problems[1].file.ends_with("jobs"));
    }
}
