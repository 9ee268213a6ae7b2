//! "Did you mean" hints for misspelt field and variant names.
//!
//! serde reports an unknown name as ``unknown field `x`, expected one of
//! `a`, `b` `` (or `variant`); the names are read back from that message to
//! find the closest expected one.

/// Splits a YAML error message into the field path it starts with (if
/// any) and the message proper, without the position (which the error
/// carries as a line), with a hint appended when a name was misspelt.
pub(crate) fn tidy(message: &str) -> (Option<String>, String) {
    let message = match message.rfind(" at line ") {
        Some(at) if message[at + 9..].contains(" column ") => &message[..at],
        _ => message,
    };
    let (field, rest) = match message.split_once(": ") {
        Some((path, rest)) if !path.is_empty() && !path.contains(' ') => {
            (Some(path.to_string()), rest)
        }
        _ => (None, message),
    };
    (field, with_suggestion(rest))
}

/// The message with a hint appended when an expected name is close to the
/// unknown one.
fn with_suggestion(message: &str) -> String {
    match suggestion(message) {
        Some(name) => format!("{message} (did you mean `{name}`?)"),
        None => message.to_string(),
    }
}

fn suggestion(message: &str) -> Option<&str> {
    if !message.starts_with("unknown field") && !message.starts_with("unknown variant") {
        return None;
    }
    let mut quoted = message.split('`').skip(1).step_by(2);
    let unknown = quoted.next()?;
    closest(unknown, quoted)
}

/// The candidate closest to `unknown`, if one is close enough to be a
/// likely misspelling.
pub fn closest<'a>(
    unknown: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (distance(unknown, candidate), candidate))
        .filter(|(d, candidate)| *d > 0 && *d <= (candidate.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between two short names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_expected_name() {
        let message = "unknown field `key_patern`, expected `key_pattern` or `exclude_commands`";
        assert!(with_suggestion(message).ends_with("(did you mean `key_pattern`?)"));
        let message =
            "unknown variant `relational.wrte`, expected `relational.write` or `relational_write`";
        assert!(with_suggestion(message).ends_with("(did you mean `relational.write`?)"));
    }

    #[test]
    fn says_nothing_when_nothing_is_close() {
        let message = "unknown field `colour`, expected `key_pattern` or `exclude_commands`";
        assert_eq!(with_suggestion(message), message);
        assert_eq!(
            with_suggestion("missing field `table`"),
            "missing field `table`"
        );
    }

    #[test]
    fn tidies_yaml_messages() {
        let (field, message) = tidy(
            "source.redis: unknown field `key_patern`, expected `key_pattern` or `exclude_commands` at line 4 column 5",
        );
        assert_eq!(field.as_deref(), Some("source.redis"));
        assert_eq!(
            message,
            "unknown field `key_patern`, expected `key_pattern` or `exclude_commands` (did you mean `key_pattern`?)"
        );
        let (field, message) = tidy("missing field `source` at line 1 column 1");
        assert_eq!(field, None);
        assert_eq!(message, "missing field `source`");
    }

    #[test]
    fn distances() {
        assert_eq!(distance("table", "table"), 0);
        assert_eq!(distance("tabel", "table"), 2);
        assert_eq!(distance("mapping", "maping"), 1);
    }
}
