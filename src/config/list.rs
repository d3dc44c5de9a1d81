//! Settings that are lists: one comma-separated string (`AUDIOTAP_API_KEYS=a,b`), or in
//! the file either that or an array of strings.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{Error, SeqAccess, Visitor};

/// A `deserialize_with` for list settings: items trimmed, empty ones dropped, so
/// `"a, b,"` and `["a", " b"]` are both `[a, b]`.
pub(super) fn comma_list<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    de.deserialize_any(ListVisitor(PhantomData))
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: From<String>> Visitor<'de> for ListVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a comma-separated list or an array of strings")
    }

    fn visit_str<E: Error>(self, s: &str) -> Result<Vec<T>, E> {
        Ok(items(s.split(',')))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut all = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            all.push(item);
        }
        Ok(items(all.iter().map(String::as_str)))
    }
}

fn items<'a, T: From<String>>(parts: impl Iterator<Item = &'a str>) -> Vec<T> {
    parts
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| T::from(s.to_string()))
        .collect()
}
