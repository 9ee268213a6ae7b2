//! Values that may be `${ENV_VAR}` references, resolved when the engine
//! runs (so config files hold no secrets) and never printed resolved.

use std::fmt;

use serde::Deserialize;

/// A config value as written: plain text, or text with `${NAME}` parts.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct EnvString(String);

/// A `${NAME}` whose variable is not set, or an unclosed `${`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError(pub String);

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl EnvString {
    pub fn new(raw: impl Into<String>) -> Self {
        EnvString(raw.into())
    }

    /// The value as written in the file, references unresolved.
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The names of the variables it refers to.
    pub fn references(&self) -> Vec<&str> {
        let mut names = Vec::new();
        let mut rest = self.0.as_str();
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    names.push(&after[..end]);
                    rest = &after[end + 1..];
                }
                None => break,
            }
        }
        names
    }

    /// Substitutes every `${NAME}` with `lookup(NAME)`.
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, EnvError> {
        let mut out = String::with_capacity(self.0.len());
        let mut rest = self.0.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| EnvError(format!("unclosed ${{ in {:?}", self.0)))?;
            let name = &after[..end];
            let value = lookup(name)
                .ok_or_else(|| EnvError(format!("environment variable {name} is not set")))?;
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// [`EnvString::resolve`] from the process environment.
    pub fn resolve_env(&self) -> Result<String, EnvError> {
        self.resolve(|name| std::env::var(name).ok())
    }
}

/// Debug output shows references but never literal text, which may be a
/// password written inline.
impl fmt::Debug for EnvString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.references().is_empty() {
            f.write_str("EnvString(<literal>)")
        } else {
            write!(f, "EnvString({:?})", self.references())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.internal".into()),
            "PORT" => Some("5433".into()),
            _ => None,
        }
    }

    #[test]
    fn resolves_references_and_keeps_plain_text() {
        assert_eq!(
            EnvString::new("${HOST}").resolve(lookup),
            Ok("db.internal".into())
        );
        assert_eq!(
            EnvString::new("${HOST}:${PORT}/x").resolve(lookup),
            Ok("db.internal:5433/x".into())
        );
        assert_eq!(EnvString::new("plain").resolve(lookup), Ok("plain".into()));
    }

    #[test]
    fn unset_and_unclosed_references_are_errors() {
        let err = EnvString::new("${NOPE}").resolve(lookup).unwrap_err();
        assert_eq!(err.0, "environment variable NOPE is not set");
        assert!(EnvString::new("${HOST").resolve(lookup).is_err());
    }

    #[test]
    fn debug_never_shows_values() {
        assert_eq!(
            format!("{:?}", EnvString::new("hunter2")),
            "EnvString(<literal>)"
        );
        assert_eq!(
            format!("{:?}", EnvString::new("${DB_PASSWORD}")),
            "EnvString([\"DB_PASSWORD\"])"
        );
    }
}
