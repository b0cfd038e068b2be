//! Settings read from text in every source. A `SOTTO_*` variable reaches serde as whatever
//! figment's parser makes of it (`SOTTO_DATA_DIR=2024` is a number, `SOTTO_MODEL=a,b` a
//! string), so the fields that are text on the command line take any scalar and parse it as
//! clap would: lists split on commas as clap's `value_delimiter` does, and a TOML array works
//! too.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// One value parsed from text (a path given as a number in the environment stays a path).
pub fn one<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    deserializer
        .deserialize_any(Scalar(PhantomData))
        .map(|Item(value)| value)
}

/// A list: a TOML array, or one string of comma-separated items (`SOTTO_MODEL=a,b`).
pub fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    read_list(deserializer, false)
}

/// A list as [`list`] reads it, or a TOML table whose `key = "value"` entries are the items
/// `key=value` (`[alias]` with `chat = "Qwen2.5-1.5B"`).
pub fn list_or_table<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    read_list(deserializer, true)
}

fn read_list<'de, D, T>(deserializer: D, tables: bool) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    deserializer.deserialize_any(List {
        tables,
        items: PhantomData,
    })
}

struct Item<T>(T);

impl<'de, T> Deserialize<'de> for Item<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Scalar(PhantomData))
    }
}

struct Scalar<T>(PhantomData<T>);

impl<T> Visitor<'_> for Scalar<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    type Value = Item<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        text.parse().map(Item).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        self.visit_str(&number.to_string())
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        self.visit_str(&number.to_string())
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
        self.visit_str(&number.to_string())
    }
}

struct List<T> {
    /// Whether a table's entries are items too.
    tables: bool,
    items: PhantomData<T>,
}

impl<'de, T> Visitor<'de> for List<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.tables {
            f.write_str("a table, a list, or a string of comma-separated items")
        } else {
            f.write_str("a list, or a string of comma-separated items")
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        if !self.tables {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        let mut list = Vec::new();
        while let Some((key, Item(value))) = entries.next_entry::<String, Item<String>>()? {
            list.push(
                format!("{key}={value}")
                    .parse()
                    .map_err(de::Error::custom)?,
            );
        }
        Ok(list)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let mut list = Vec::new();
        while let Some(Item(item)) = items.next_element::<Item<T>>()? {
            list.push(item);
        }
        Ok(list)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        // An empty variable is an empty list, not one empty item.
        if text.is_empty() {
            return Ok(Vec::new());
        }
        text.split(',')
            .map(|item| item.parse().map_err(E::custom))
            .collect()
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        self.visit_str(&number.to_string())
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        self.visit_str(&number.to_string())
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
        self.visit_str(&number.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use std::path::PathBuf;

    #[derive(Debug, Deserialize)]
    struct Fields {
        #[serde(deserialize_with = "list")]
        names: Vec<String>,
        #[serde(deserialize_with = "list")]
        addresses: Vec<IpAddr>,
        #[serde(deserialize_with = "one")]
        path: PathBuf,
        #[serde(default, deserialize_with = "list_or_table")]
        pairs: Vec<String>,
    }

    fn parse(toml: &str) -> Result<Fields, Box<figment::Error>> {
        use figment::providers::{Format, Toml};
        figment::Figment::from(Toml::string(toml))
            .extract()
            .map_err(Box::new)
    }

    #[test]
    fn lists_are_arrays_or_comma_separated_text_and_paths_any_scalar() {
        let fields =
            parse("names = 'a,b'\naddresses = ['::1', '10.0.0.1']\npath = 2024").expect("parses");
        assert_eq!(fields.names, ["a", "b"]);
        assert_eq!(fields.addresses.len(), 2);
        assert_eq!(fields.path, PathBuf::from("2024"));
        let fields = parse("names = ''\naddresses = '::1,10.0.0.1'\npath = 'p'").expect("parses");
        assert!(fields.names.is_empty());
        assert_eq!(fields.addresses.len(), 2);
        let error = parse("names = []\naddresses = ['::1', 'nowhere']\npath = 'p'")
            .expect_err("not an address");
        assert_eq!(error.path, ["addresses", "1"]);
        let fields = parse("names = ''\naddresses = ''\npath = 'p'\n[pairs]\nchat = 'big'\nx = 7")
            .expect("parses");
        assert_eq!(fields.pairs, ["chat=big", "x=7"]);
        let fields =
            parse("names = ''\naddresses = ''\npath = 'p'\npairs = 'a=b,c=d'").expect("parses");
        assert_eq!(fields.pairs, ["a=b", "c=d"]);
        parse("names = {a = 'b'}\naddresses = ''\npath = 'p'").expect_err("a table is no list");
    }
}
