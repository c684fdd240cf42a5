//! A journal entry to send: an ordered list of `NAME=value` fields with binary-safe values.

use crate::{FieldName, Priority};

/// One field of an [`Entry`]: a validated name and a value of any bytes (NUL, newlines and
/// invalid UTF-8 included).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// The field name.
    pub name: FieldName,
    /// The value, sent byte for byte.
    pub value: Vec<u8>,
}

/// A journal entry: fields in the order they will be sent.
///
/// A name may appear more than once; journald stores every value and `journalctl -o json`
/// prints them as an array. The writer adds its run-id and sequence fields when sending (see
/// [`WriterBuilder`](crate::WriterBuilder)).
///
/// ```
/// use telltale_journald::{Entry, FieldName, Priority};
///
/// let entry = Entry::message("disk almost full\nsda1: 97%")
///     .with_priority(Priority::Warning)
///     .with_identifier("demo")
///     .field("MOUNT", "/var")?
///     .with(FieldName::new("TAG")?, "a")
///     .with(FieldName::new("TAG")?, "b");
/// assert_eq!(entry.get("PRIORITY"), Some(&b"4"[..]));
/// assert_eq!(entry.values("TAG").count(), 2);
/// # Ok::<(), telltale_journald::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Entry {
    fields: Vec<Field>,
}

impl Entry {
    /// An entry with no fields.
    pub fn new() -> Entry {
        Entry::default()
    }

    /// An entry whose only field is `MESSAGE`.
    pub fn message(text: impl Into<Vec<u8>>) -> Entry {
        Entry::new().with(FieldName::MESSAGE, text)
    }

    /// Replaces every `MESSAGE` with this one.
    pub fn with_message(mut self, text: impl Into<Vec<u8>>) -> Entry {
        self.set(FieldName::MESSAGE, text);
        self
    }

    /// Replaces every `PRIORITY` with this one.
    pub fn with_priority(mut self, priority: Priority) -> Entry {
        self.set(FieldName::PRIORITY, priority.digit());
        self
    }

    /// Replaces every `SYSLOG_IDENTIFIER` with this one.
    pub fn with_identifier(mut self, identifier: impl Into<Vec<u8>>) -> Entry {
        self.set(FieldName::SYSLOG_IDENTIFIER, identifier);
        self
    }

    /// Appends a field.
    pub fn with(mut self, name: FieldName, value: impl Into<Vec<u8>>) -> Entry {
        self.push(name, value);
        self
    }

    /// Appends a field after validating its name (see [`FieldName`]).
    pub fn field(self, name: &str, value: impl Into<Vec<u8>>) -> Result<Entry, crate::Error> {
        Ok(self.with(FieldName::new(name)?, value))
    }

    /// Appends a field.
    pub fn push(&mut self, name: FieldName, value: impl Into<Vec<u8>>) {
        self.fields.push(Field {
            name,
            value: value.into(),
        });
    }

    /// Removes every field with this name and appends one with this value.
    pub fn set(&mut self, name: FieldName, value: impl Into<Vec<u8>>) {
        self.fields.retain(|f| f.name != name);
        self.push(name, value);
    }

    /// The fields, in sending order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The first value of a field.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.name.as_str() == name)
            .map(|f| f.value.as_slice())
    }

    /// Every value of a field, in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |f| f.name.as_str() == name)
            .map(|f| f.value.as_slice())
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the entry has no fields (journald drops such entries).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Bytes this entry takes in the native protocol (see [`encode`](crate::encode)).
    pub fn encoded_len(&self) -> usize {
        self.fields
            .iter()
            .map(|f| crate::native::field_len(f.name.as_str().len(), &f.value))
            .sum()
    }
}

impl FromIterator<Field> for Entry {
    fn from_iter<I: IntoIterator<Item = Field>>(iter: I) -> Entry {
        Entry {
            fields: iter.into_iter().collect(),
        }
    }
}

impl Extend<Field> for Entry {
    fn extend<I: IntoIterator<Item = Field>>(&mut self, iter: I) {
        self.fields.extend(iter);
    }
}
