//! The job's `params`, as given to `init`.

/// Name/value parameters from the job file (`with: {params: {...}}`).
#[derive(Clone, Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Wraps the pairs given to `init`.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params { pairs }
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or `default`.
    pub fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    /// A comma-separated list parameter, trimmed, empty items dropped.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_defaults_and_lists() {
        let p = Params::new(vec![
            ("fields".into(), "email, phone,,".into()),
            ("table".into(), "users".into()),
        ]);
        assert_eq!(p.get("table"), Some("users"));
        assert_eq!(p.get_or("schema", "public"), "public");
        assert_eq!(p.list("fields"), vec!["email", "phone"]);
        assert!(p.list("absent").is_empty());
    }
}
