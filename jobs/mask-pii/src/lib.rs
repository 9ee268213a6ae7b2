//! Masks personal data of customers and derives two columns; see README.md.

use wb_guest::{Change, Params, RowOp, Transform};

pub struct MaskPii {
    mask: Vec<String>,
    connection: String,
    table: String,
}

impl MaskPii {
    fn masked(&self, field: &str, value: Option<&str>) -> Option<String> {
        let value = value?;
        if !self.mask.iter().any(|m| m == field) {
            return Some(value.to_string());
        }
        Some(match field {
            "email" => mask_email(value),
            "phone" => mask_phone(value),
            _ => "***".to_string(),
        })
    }
}

impl Transform for MaskPii {
    fn init(params: &Params) -> Result<Self, String> {
        let mask: Vec<String> = match params.get("mask") {
            Some(_) => params.list("mask").into_iter().map(String::from).collect(),
            None => vec!["email".into(), "phone".into()],
        };
        Ok(MaskPii {
            mask,
            connection: params.get_or("connection", "target").to_string(),
            table: params.get_or("table", "customers").to_string(),
        })
    }

    fn map<'a>(&'a self, change: &Change<'a>) -> Result<Vec<RowOp<'a>>, String> {
        let id = change
            .key_part(1)
            .filter(|id| !id.is_empty())
            .ok_or("expected a key like customer:<id>")?;
        let op = |op: fn(&'a str, &'a str) -> RowOp<'a>| {
            op(self.connection.as_str(), self.table.as_str()).key("id", id)
        };
        if change.is_missing() {
            return Ok(vec![op(RowOp::delete)]);
        }
        let email = change.field_str("email");
        let vip = match change.field_str("spend") {
            None => false,
            Some(spend) => {
                let spend: f64 = spend
                    .trim()
                    .parse()
                    .map_err(|_| format!("spend {spend:?} is not a number"))?;
                spend >= 1000.0
            }
        };
        Ok(vec![op(RowOp::upsert)
            .value("name", change.field_str("name"))
            .value("email", self.masked("email", email))
            .value("email_domain", email.and_then(domain))
            .value("phone", self.masked("phone", change.field_str("phone")))
            .value("vip", vip)])
    }
}

wb_guest::export!(MaskPii);

/// Keeps the first character of the local part and the domain.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// Keeps the last four digits.
fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("***{tail}")
}

fn domain(email: &str) -> Option<String> {
    let (_, domain) = email.split_once('@')?;
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_they_should() {
        assert_eq!(mask_email("ada@example.com"), "a***@example.com");
        assert_eq!(mask_email("no-at-sign"), "***");
        assert_eq!(mask_phone("+44 20 7946 0958"), "***0958");
        assert_eq!(mask_phone("12"), "***12");
        assert_eq!(domain("Ada@Example.COM").as_deref(), Some("example.com"));
        assert_eq!(domain("ada@"), None);
    }
}
