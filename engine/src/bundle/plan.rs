//! A job file read into what its bundle holds: the one path by which
//! `compile`, `test` and `run` turn a job into a component and params, so
//! they cannot disagree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Job, Output, TransformStep, WasmStep};

use super::error::BundleError;
use super::file::Bundle;
use super::manifest::{BundleOutput, BundleSource, ComponentInfo, ComponentKind, Manifest};

/// Which component a job runs.
#[derive(Debug, Clone, PartialEq)]
pub enum PlannedComponent {
    /// The stock mapper, with the job's steps and outputs compiled into its
    /// `spec` param.
    StockMapper { spec: String },
    /// The job's own component (its `wasm` step), with its params.
    Custom {
        /// Resolved against the job file's directory.
        path: PathBuf,
        params: BTreeMap<String, String>,
    },
}

/// A `wasm` step of a job with outputs: a component (world `step`) that
/// runs before the mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStep {
    /// Its place in the job's `transform` list (for error messages).
    pub index: usize,
    /// Resolved against the job file's directory.
    pub path: PathBuf,
    pub params: BTreeMap<String, String>,
}

/// A parsed and checked job file.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub file: PathBuf,
    /// The file's text, for locating errors found later (connections).
    pub text: String,
    pub job: Job,
    pub name: String,
    /// The `wasm` steps that run before `component`, in order.
    pub steps: Vec<PlannedStep>,
    pub component: PlannedComponent,
    pub outputs: Vec<BundleOutput>,
}

impl JobPlan {
    /// Reads, parses and checks the job file at `file`.
    pub fn load(file: &Path) -> Result<JobPlan, ConfigError> {
        JobPlan::parse(file, ConfigError::read(file)?)
    }

    /// Parses and checks job text; `file` names the job and its errors.
    pub fn parse(file: &Path, text: String) -> Result<JobPlan, ConfigError> {
        let name = job_name(file)?;
        let job = Job::parse(file, &text)?;
        let dir = file.parent().unwrap_or(Path::new(""));
        let wasm_steps: Vec<(usize, &WasmStep)> = job
            .transform
            .iter()
            .enumerate()
            .filter_map(|(i, step)| match step {
                TransformStep::Wasm(step) => Some((i, step)),
                _ => None,
            })
            .collect();
        let (steps, component, outputs) = match wasm_steps.as_slice() {
            // `Job::parse` made sure such a job has this one step only.
            [(_, step)] if job.is_custom() => {
                let outputs = step
                    .outputs
                    .iter()
                    .map(|o| BundleOutput {
                        connection: o.connection.clone(),
                        table: qualified(o.schema.as_deref(), &o.table),
                    })
                    .collect();
                let component = PlannedComponent::Custom {
                    path: dir.join(&step.component),
                    params: step.params.clone(),
                };
                (Vec::new(), component, outputs)
            }
            _ => {
                let steps = wasm_steps
                    .iter()
                    .map(|(index, step)| PlannedStep {
                        index: *index,
                        path: dir.join(&step.component),
                        params: step.params.clone(),
                    })
                    .collect();
                let spec = job.to_mapper_spec(file, &text)?.to_string();
                let outputs = job
                    .output
                    .iter()
                    .map(|Output::RelationalWrite(w)| BundleOutput {
                        connection: w.connection.clone(),
                        table: qualified(w.schema.as_deref(), &w.table),
                    })
                    .collect();
                (steps, PlannedComponent::StockMapper { spec }, outputs)
            }
        };
        Ok(JobPlan {
            file: file.to_path_buf(),
            text,
            job,
            name,
            steps,
            component,
            outputs,
        })
    }

    pub fn source(&self) -> BundleSource {
        BundleSource {
            key_pattern: self.job.source.redis.key_pattern.clone(),
            exclude_commands: self.job.source.redis.exclude_commands.clone(),
        }
    }

    /// The component file this job needs: `mapper` for declarative jobs.
    pub fn component_path<'a>(&'a self, mapper: &'a Path) -> &'a Path {
        match &self.component {
            PlannedComponent::StockMapper { .. } => mapper,
            PlannedComponent::Custom { path, .. } => path,
        }
    }

    /// The bundle: the steps' components and the component that makes the
    /// rows (the stock `mapper` for declarative jobs), with their params and
    /// the manifest.
    pub fn bundle(&self, mapper: &Path) -> Result<Bundle, BundleError> {
        const STEP_HINT: &str =
            "a wasm step names its component relative to the job file: build the component first";
        let mut infos = Vec::new();
        let mut components = Vec::new();
        for step in &self.steps {
            components.push(self.read_component(&step.path, STEP_HINT)?);
            infos.push(ComponentInfo {
                kind: ComponentKind::Step,
                bytes: 0,
                params: step.params.clone(),
            });
        }
        let (kind, params, hint) = match &self.component {
            PlannedComponent::StockMapper { spec } => (
                ComponentKind::StockMapper,
                [("spec".to_string(), spec.clone())].into_iter().collect(),
                "the stock mapper: build it with `cargo build --release --target wasm32-wasip2 \
                 --manifest-path sdk/mapper-component/Cargo.toml --target-dir target/guests`, \
                 or pass --mapper",
            ),
            PlannedComponent::Custom { params, .. } => {
                (ComponentKind::Custom, params.clone(), STEP_HINT)
            }
        };
        components.push(self.read_component(self.component_path(mapper), hint)?);
        infos.push(ComponentInfo {
            kind,
            bytes: 0,
            params,
        });
        let manifest = Manifest {
            format: 0,
            job: self.name.clone(),
            wit: String::new(),
            wb_version: env!("CARGO_PKG_VERSION").to_string(),
            source: self.source(),
            outputs: self.outputs.clone(),
            components: infos,
            sha256: String::new(),
        };
        Ok(Bundle::seal(manifest, components))
    }

    fn read_component(&self, path: &Path, hint: &str) -> Result<Vec<u8>, BundleError> {
        std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BundleError::MissingComponent {
                job_file: self.file.clone(),
                component: path.to_path_buf(),
                hint: hint.to_string(),
            },
            _ => BundleError::Read {
                path: path.to_path_buf(),
                source: e,
            },
        })
    }
}

/// `schema.table`, or `table` alone.
fn qualified(schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(schema) => format!("{schema}.{table}"),
        None => table.to_string(),
    }
}

/// The job's name: the file's stem, or, for a file named `job.yaml`, its
/// directory's name (a job kept in a folder of its own, like
/// `jobs/mask-pii/job.yaml`). 1 to 64 characters of `A-Z a-z 0-9 _ - .`,
/// as the capture module requires.
pub fn job_name(file: &Path) -> Result<String, ConfigError> {
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let folder = |f: &Path| Some(f.parent()?.file_name()?.to_str()?.to_owned());
    let name = if stem == "job" {
        // `job.yaml` alone has no folder in its path: ask the file system.
        folder(file)
            .or_else(|| folder(&file.canonicalize().ok()?))
            .unwrap_or_default()
    } else {
        stem.to_owned()
    };
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(name)
    } else {
        Err(ConfigError {
            file: file.to_path_buf(),
            line: 0,
            field: None,
            message: format!(
                "the job's name {name:?} (from the file name) must be 1 to 64 characters of A-Z a-z 0-9 _ - ."
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_file_or_its_folder() {
        assert_eq!(job_name(Path::new("jobs/users.yaml")).unwrap(), "users");
        let mask = Path::new(env!("CARGO_MANIFEST_DIR")).join("../jobs/mask-pii/job.yaml");
        assert_eq!(job_name(&mask).unwrap(), "mask-pii");
        assert_eq!(job_name(Path::new("a/b/job.yaml")).unwrap(), "b");
        let err = job_name(Path::new("jobs/my users.yaml")).unwrap_err();
        assert!(err.message.contains("\"my users\""), "{err}");
    }

    #[test]
    fn a_declarative_job_plans_the_stock_mapper() {
        let text = "source: {redis: {key_pattern: \"user:*\", exclude_commands: [hdel]}}\noutput:\n  - uses: relational.write\n    with: {connection: target, schema: app, table: users, keys: [id], mapping: [name]}\n";
        let plan = JobPlan::parse(Path::new("jobs/users.yaml"), text.into()).unwrap();
        assert_eq!(plan.name, "users");
        assert_eq!(
            plan.outputs,
            vec![BundleOutput {
                connection: "target".into(),
                table: "app.users".into()
            }]
        );
        let PlannedComponent::StockMapper { spec } = &plan.component else {
            panic!("{:?}", plan.component);
        };
        assert!(
            spec.starts_with("output target app.users upsert\n"),
            "{spec}"
        );
        assert_eq!(plan.source().exclude_commands, vec!["hdel"]);
        let err = plan
            .bundle(Path::new("/nonexistent/mapper.wasm"))
            .unwrap_err();
        assert!(matches!(err, BundleError::MissingComponent { .. }), "{err}");
        assert!(err.to_string().contains("--mapper"), "{err}");
    }

    #[test]
    fn a_wasm_job_plans_its_component_relative_to_the_job_file() {
        let text = "source: {redis: {key_pattern: \"c:*\"}}\ntransform:\n  - uses: wasm\n    with:\n      component: ./out/c.wasm\n      params: {table: customers}\n      outputs: [{connection: target, table: customers}]\n";
        let plan = JobPlan::parse(Path::new("jobs/customers.yaml"), text.into()).unwrap();
        assert_eq!(
            plan.component,
            PlannedComponent::Custom {
                path: Path::new("jobs/./out/c.wasm").to_path_buf(),
                params: [("table".to_string(), "customers".to_string())]
                    .into_iter()
                    .collect(),
            }
        );
        assert_eq!(plan.outputs[0].table, "customers");
        assert!(plan.steps.is_empty());
    }

    #[test]
    fn wasm_steps_before_outputs_plan_steps_and_the_stock_mapper() {
        let text = "source: {redis: {key_pattern: \"c:*\"}}\ntransform:\n  - uses: wasm\n    with: {component: ./s.wasm, params: {lower: email}}\noutput:\n  - uses: relational.write\n    with: {connection: target, table: contacts, keys: [{id: \"key_part(1)\"}], mapping: [email]}\n";
        let plan = JobPlan::parse(Path::new("jobs/contacts.yaml"), text.into()).unwrap();
        assert_eq!(
            plan.steps,
            vec![PlannedStep {
                index: 0,
                path: Path::new("jobs/./s.wasm").to_path_buf(),
                params: [("lower".to_string(), "email".to_string())]
                    .into_iter()
                    .collect(),
            }]
        );
        assert!(matches!(
            plan.component,
            PlannedComponent::StockMapper { .. }
        ));
        assert_eq!(plan.outputs[0].table, "contacts");
        // The step is read first, so its absence is what is reported.
        let err = plan
            .bundle(Path::new("/nonexistent/mapper.wasm"))
            .unwrap_err();
        assert!(err.to_string().contains("s.wasm does not exist"), "{err}");
    }
}
