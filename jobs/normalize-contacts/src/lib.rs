//! A step that normalises contacts before the job's outputs map them into
//! a table; see README.md.

use wb_guest::{Change, HashRecord, Params, Step, StepResult};

pub struct NormalizeContacts {
    /// Contacts whose email is at one of these domains are not copied.
    drop_domains: Vec<String>,
}

impl Step for NormalizeContacts {
    fn init(params: &Params) -> Result<Self, String> {
        Ok(NormalizeContacts {
            drop_domains: params
                .list("drop_domains")
                .into_iter()
                .map(str::to_ascii_lowercase)
                .collect(),
        })
    }

    fn step(&self, change: &Change<'_>) -> StepResult {
        let mut record = HashRecord::from_change(change)
            .ok_or("expected a hash like contact:<id> {name, email, phone}")?;
        if let Some(email) = record.get_str("email") {
            let email = normalize_email(email)?;
            let domain = email.rsplit('@').next().unwrap_or_default();
            if self.drop_domains.iter().any(|d| d == domain) {
                return Ok(None);
            }
            record.set("email", email);
        }
        if let Some(phone) = record.get_str("phone") {
            let phone = normalize_phone(phone);
            record.set("phone", phone);
        }
        Ok(Some(record.into_value()))
    }
}

wb_guest::export_step!(NormalizeContacts);

/// Trimmed and lower-cased; an address without exactly one `@` between a
/// local part and a domain is refused.
fn normalize_email(email: &str) -> Result<String, String> {
    let email = email.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(email)
        }
        _ => Err(format!("{email:?} is not an email address")),
    }
}

/// Digits only, keeping a leading `+`: `+44 (20) 7946-0958` -> `+442079460958`.
fn normalize_phone(phone: &str) -> String {
    let phone = phone.trim();
    let mut out = String::with_capacity(phone.len());
    if phone.starts_with('+') {
        out.push('+');
    }
    out.extend(phone.chars().filter(char::is_ascii_digit));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wb_guest::{run_steps, ChangeData, ValueData};

    fn contact(fields: &[(&str, &str)]) -> ChangeData {
        ChangeData {
            key: b"contact:1".to_vec(),
            event: "hset".into(),
            stream_id: "1-0".into(),
            value: ValueData::Hash(
                fields
                    .iter()
                    .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
                    .collect(),
            ),
        }
    }

    fn step() -> NormalizeContacts {
        NormalizeContacts::init(&Params::new(vec![(
            "drop_domains".into(),
            "Example.TEST".into(),
        )]))
        .unwrap()
    }

    #[test]
    fn emails_and_phones_are_normalised() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        assert!(normalize_email("ada").is_err());
        assert!(normalize_email("@example.com").is_err());
        assert!(normalize_email("a@b@c").is_err());
        assert_eq!(normalize_phone("+44 (20) 7946-0958"), "+442079460958");
        assert_eq!(normalize_phone("555.123.4567"), "5551234567");
    }

    #[test]
    fn records_are_rewritten_dropped_or_rejected() {
        let out = run_steps(
            &step(),
            &[
                contact(&[
                    ("name", "Ada"),
                    ("email", "ADA@x.org"),
                    ("phone", "+1 (555) 010"),
                ]),
                contact(&[("email", "qa@example.test")]),
                contact(&[("email", "nobody")]),
                contact(&[("name", "Bob")]),
            ],
        );
        assert_eq!(
            out[0],
            Ok(Some(ValueData::Hash(vec![
                (b"name".to_vec(), b"Ada".to_vec()),
                (b"email".to_vec(), b"ada@x.org".to_vec()),
                (b"phone".to_vec(), b"+1555010".to_vec()),
            ])))
        );
        assert_eq!(out[1], Ok(None));
        assert_eq!(
            out[2],
            Err("\"nobody\" is not an email address".to_string())
        );
        assert_eq!(
            out[3],
            Ok(Some(ValueData::Hash(vec![(
                b"name".to_vec(),
                b"Bob".to_vec()
            )])))
        );
    }
}
