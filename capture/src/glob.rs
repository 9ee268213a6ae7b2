//! Redis glob patterns, matched exactly as `KEYS` and `SCAN ... MATCH` match them.
//!
//! A job tracks the keys its `key_pattern` matches; if this matcher disagreed
//! with Redis's own, `wb-engine backfill` (which uses `SCAN MATCH`) and the
//! live capture would see different key sets. So this follows the server's
//! matcher rule for rule: `*`, `?`, `[...]` with `^` negation, ranges that may
//! be written backwards, `\` escapes, an unterminated `[` that swallows the
//! rest of the pattern, binary-safe bytes, and the special case that a lone
//! `*` matches every key, the empty one included.

/// How deep `*` may recurse before the match is refused, as the server does.
const MAX_NESTING: usize = 1000;

/// Whether `key` matches the glob `pattern`.
pub fn matches(pattern: &[u8], key: &[u8]) -> bool {
    if pattern == b"*" {
        return true;
    }
    let mut skip_longer = false;
    match_from(pattern, key, &mut skip_longer, 0)
}

fn match_from(mut pat: &[u8], mut key: &[u8], skip_longer: &mut bool, nesting: usize) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    while !pat.is_empty() && !key.is_empty() {
        match pat[0] {
            b'*' => {
                while pat.len() > 1 && pat[1] == b'*' {
                    pat = &pat[1..];
                }
                if pat.len() == 1 {
                    return true;
                }
                while !key.is_empty() {
                    if match_from(&pat[1..], key, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    key = &key[1..];
                }
                // Nothing after this star matches anywhere in the rest of the
                // key, so no earlier star can help by matching more: stop.
                *skip_longer = true;
                return false;
            }
            b'?' => key = &key[1..],
            b'[' => {
                let (class_matches, rest) = match_class(&pat[1..], key[0]);
                if !class_matches {
                    return false;
                }
                key = &key[1..];
                if rest.is_empty() {
                    // The class ran to the end of the pattern.
                    return key.is_empty();
                }
                // `rest` starts at the closing `]`, which the step below consumes.
                pat = rest;
            }
            b'\\' if pat.len() >= 2 => {
                pat = &pat[1..];
                if pat[0] != key[0] {
                    return false;
                }
                key = &key[1..];
            }
            literal => {
                if literal != key[0] {
                    return false;
                }
                key = &key[1..];
            }
        }
        pat = &pat[1..];
        if key.is_empty() {
            while pat.first() == Some(&b'*') {
                pat = &pat[1..];
            }
            break;
        }
    }
    pat.is_empty() && key.is_empty()
}

/// Matches one byte against a character class whose body starts at `pat`
/// (just after the `[`). Returns whether it matched and the pattern from the
/// closing `]` on, or an empty slice when the class is unterminated.
fn match_class(mut pat: &[u8], byte: u8) -> (bool, &[u8]) {
    let negated = pat.first() == Some(&b'^');
    if negated {
        pat = &pat[1..];
    }
    let mut matched = false;
    loop {
        match pat {
            [] => break,
            [b'\\', escaped, ..] => {
                if *escaped == byte {
                    matched = true;
                }
                pat = &pat[2..];
            }
            [b']', ..] => break,
            [start, b'-', end, ..] => {
                let (low, high) = if start <= end {
                    (*start, *end)
                } else {
                    (*end, *start)
                };
                if (low..=high).contains(&byte) {
                    matched = true;
                }
                pat = &pat[3..];
            }
            [member, ..] => {
                if *member == byte {
                    matched = true;
                }
                pat = &pat[1..];
            }
        }
    }
    (matched != negated, pat)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_and_question_mark() {
        assert!(matches(b"user:*", b"user:1"));
        assert!(matches(b"user:*", b"user:"));
        assert!(!matches(b"user:*", b"users:1"));
        assert!(matches(b"*:profile", b"user:7:profile"));
        assert!(matches(b"u?er:*", b"uxer:9"));
        assert!(!matches(b"u?er:*", b"uer:9"));
        assert!(matches(b"a**b", b"ab"));
        assert!(matches(b"a*", b"a"));
        assert!(!matches(b"a*b", b"acbd"));
    }

    #[test]
    fn lone_star_matches_the_empty_key() {
        assert!(matches(b"*", b""));
        assert!(!matches(b"?", b""));
        assert!(!matches(b"a*", b""));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(matches(b"h[ae]llo", b"hello"));
        assert!(!matches(b"h[ae]llo", b"hillo"));
        assert!(matches(b"h[^e]llo", b"hallo"));
        assert!(!matches(b"h[^e]llo", b"hello"));
        assert!(matches(b"h[a-b]llo", b"hbllo"));
        assert!(matches(b"h[b-a]llo", b"hallo"), "reversed range");
        assert!(matches(b"[\\]]", b"]"));
        // `[a-]`: the `-` makes a range up to `]`, which then leaves the
        // class unterminated (checked against `KEYS` on Valkey 9.1).
        assert!(matches(b"[a-]", b"^"));
        assert!(!matches(b"[a-]", b"-"));
    }

    #[test]
    fn unterminated_class_swallows_the_rest() {
        assert!(matches(b"a[bc", b"ab"));
        assert!(matches(b"a[bc", b"ac"));
        assert!(!matches(b"a[bc", b"abc"));
    }

    #[test]
    fn escapes_and_binary_keys() {
        assert!(matches(b"a\\*b", b"a*b"));
        assert!(!matches(b"a\\*b", b"axb"));
        assert!(matches(b"k:\\", b"k:\\"));
        assert!(matches(b"bin:*", b"bin:\x00\xff\x01"));
        assert!(matches(b"bin:\x00?", b"bin:\x00\xff"));
    }

    #[test]
    fn pathological_patterns_finish() {
        let key = vec![b'a'; 4096];
        let pattern = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b".to_vec();
        assert!(!matches(&pattern, &key));
    }
}
