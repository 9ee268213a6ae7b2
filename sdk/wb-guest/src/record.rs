//! An owned hash record that a step edits and hands back as the change's
//! new value.

use wb_abi::{Change, Value, ValueData};

/// A hash's fields, in order, owned so a step can change them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HashRecord {
    fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HashRecord {
    /// The change's hash fields; `None` when the value is not a hash.
    pub fn from_change(change: &Change<'_>) -> Option<HashRecord> {
        match &change.value {
            Value::Hash(pairs) => Some(HashRecord {
                fields: pairs
                    .iter()
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect(),
            }),
            _ => None,
        }
    }

    /// The raw value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(f, _)| f == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The value of `name` as text; `None` if absent or not UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.get(name)?).ok()
    }

    /// Sets `name` to `value`, in place when the field exists, else at the
    /// end.
    pub fn set(&mut self, name: &str, value: impl Into<Vec<u8>>) -> &mut Self {
        let value = value.into();
        match self.fields.iter_mut().find(|(f, _)| f == name.as_bytes()) {
            Some((_, old)) => *old = value,
            None => self.fields.push((name.as_bytes().to_vec(), value)),
        }
        self
    }

    /// Removes `name` and returns its value.
    pub fn remove(&mut self, name: &str) -> Option<Vec<u8>> {
        let at = self.fields.iter().position(|(f, _)| f == name.as_bytes())?;
        Some(self.fields.remove(at).1)
    }

    /// Gives field `from` the name `to` (replacing a field called `to`);
    /// nothing happens when `from` is absent.
    pub fn rename(&mut self, from: &str, to: &str) -> &mut Self {
        if let Some(value) = self.remove(from) {
            self.set(to, value);
        }
        self
    }

    /// The fields in order.
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|(f, v)| (f.as_slice(), v.as_slice()))
    }

    /// The record as the change's new value.
    pub fn into_value(self) -> ValueData {
        ValueData::Hash(self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wb_abi::{encode_changes, BatchReader, ChangeData};

    fn with_change<R>(value: ValueData, f: impl FnOnce(&Change<'_>) -> R) -> R {
        let batch = encode_changes(&[ChangeData {
            key: b"c:1".to_vec(),
            event: "hset".into(),
            stream_id: "1-0".into(),
            value,
        }]);
        let change = BatchReader::new(&batch).unwrap().next().unwrap().unwrap();
        f(&change)
    }

    #[test]
    fn edits_keep_order_and_replace_in_place() {
        let value = ValueData::Hash(vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
            (b"c".to_vec(), b"3".to_vec()),
        ]);
        let mut record = with_change(value, HashRecord::from_change).unwrap();
        record.set("a", "one").set("d", "4").rename("b", "beta");
        assert_eq!(record.remove("c"), Some(b"3".to_vec()));
        assert_eq!(record.remove("zzz"), None);
        record.rename("absent", "x");
        assert_eq!(record.get_str("a"), Some("one"));
        assert_eq!(
            record.into_value(),
            ValueData::Hash(vec![
                (b"a".to_vec(), b"one".to_vec()),
                (b"d".to_vec(), b"4".to_vec()),
                (b"beta".to_vec(), b"2".to_vec()),
            ])
        );
    }

    #[test]
    fn only_hashes_are_records() {
        assert!(with_change(ValueData::Json("{}".into()), HashRecord::from_change).is_none());
        assert!(with_change(ValueData::Missing, HashRecord::from_change).is_none());
    }
}
