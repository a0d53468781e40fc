//! Reading LiteLLM's JSON without losing anything: objects in file order, numbers as their
//! text.
//!
//! [`Object`] keeps an object's members in the order the file writes them, each as its raw
//! JSON text ([`RawValue`]), so a price like `2.5e-06` is read from its digits into an
//! exact [`Decimal`] and never passes through `f64`.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A JSON object's members in file order, values unparsed.
#[derive(Debug, Default)]
pub struct Object(pub Vec<(String, Box<RawValue>)>);

// === impl Object ===

impl Object {
    /// The member `key` unless it is absent or `null`.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v).filter(|v| v.get() != "null")
    }

    /// The member names.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((k, v));
                }
                Ok(Object(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// The string `raw` holds, or why not.
pub fn string(raw: &RawValue) -> Result<String, String> {
    serde_json::from_str(raw.get()).map_err(|_| format!("must be a string, not {}", raw.get()))
}

/// The boolean `raw` holds, or why not.
pub fn boolean(raw: &RawValue) -> Result<bool, String> {
    serde_json::from_str(raw.get()).map_err(|_| format!("must be true or false, not {}", raw.get()))
}

/// The strings of the array `raw` holds, or why not.
pub fn strings(raw: &RawValue) -> Result<Vec<String>, String> {
    serde_json::from_str(raw.get()).map_err(|_| format!("must be a list of strings, not {}", raw.get()))
}

/// The exact value of the JSON number `raw` holds (`2.5e-06`, `128000`, `2000000.0`).
pub fn decimal(raw: &RawValue) -> Result<Decimal, String> {
    let text = raw.get();
    let number_like = text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    let parsed = if !number_like {
        return Err(format!("must be a number, not {text}"));
    } else if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    parsed.map_err(|e| format!("{text} is not a number we can hold exactly: {e}"))
}

/// The token count the JSON number `raw` holds: a whole number > 0 (`2000000.0` is one).
pub fn count(raw: &RawValue) -> Result<u64, String> {
    let d = decimal(raw)?;
    if !d.fract().is_zero() {
        return Err(format!("{} is not a whole number of tokens", raw.get()));
    }
    match u64::try_from(d.trunc()) {
        Ok(0) => Err("0 is not a usable limit".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{} is not a token count", raw.get())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn numbers_are_read_from_their_text() {
        assert_eq!(decimal(&raw("2.5e-06")).unwrap().to_string(), "0.0000025");
        assert_eq!(decimal(&raw("1e-05")).unwrap().to_string(), "0.00001");
        assert_eq!(decimal(&raw("3.0000000000000004e-07")).unwrap().to_string(), "0.00000030000000000000004");
        assert!(decimal(&raw("\"0.1\"")).is_err());
        assert_eq!(count(&raw("2000000.0")).unwrap(), 2_000_000);
        assert_eq!(count(&raw("128000")).unwrap(), 128_000);
        assert!(count(&raw("0")).is_err());
        assert!(count(&raw("1.5")).is_err());
        assert!(count(&raw("-3")).is_err());
        assert!(count(&raw("\"max input tokens\"")).is_err());
    }

    #[test]
    fn objects_keep_file_order_and_treat_null_as_absent() {
        let o: Object = serde_json::from_str(r#"{"b": 1, "a": null, "c": "x"}"#).unwrap();
        assert_eq!(o.keys().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert!(o.get("a").is_none());
        assert_eq!(string(o.get("c").unwrap()).unwrap(), "x");
        assert!(serde_json::from_str::<Object>("[1]").is_err());
    }
}
