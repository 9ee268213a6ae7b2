//! Regular expressions for `regex_replace`, in the syntax of the
//! `regex-lite` crate (Perl-like, no look-around, no backreferences).

use std::fmt;

use regex_lite::Regex;

/// A compiled regular expression that compares by its text.
#[derive(Clone)]
pub struct Pattern {
    text: String,
    regex: Regex,
}

impl Pattern {
    pub fn new(text: &str) -> Result<Pattern, String> {
        let regex =
            Regex::new(text).map_err(|e| format!("bad regular expression {text:?}: {e}"))?;
        Ok(Pattern {
            text: text.to_string(),
            regex,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// `subject` with every match replaced; `$1`, `${name}` in
    /// `replacement` insert groups, `$$` a dollar sign.
    pub fn replace_all(&self, subject: &str, replacement: &str) -> String {
        self.regex.replace_all(subject, replacement).into_owned()
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}
