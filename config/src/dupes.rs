//! Duplicate keys in a document (YAML config, JSON bodies of the control API).
//!
//! serde refuses a repeated struct field, but a repeated key of a map (`providers`,
//! `weights`, …) silently keeps the last value, so `{"chall": 1, "chall": 2}` or two
//! `providers:` entries of the same name would be accepted with one of them lost. This
//! module walks any self-describing document once (serde's `deserialize_any`, so it works
//! for every format) and refuses the first key that repeats within one mapping, naming it
//! with its path (`weights.chall`, `groups.g.members[1].name`). It checks structure only;
//! parsing into the real types stays with the caller.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A key repeated within one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// Dotted path of the repeated key (`weights.chall`); for a syntax error found on the
    /// way, the path reached so far.
    pub path: String,
    /// What is wrong (`duplicate key `chall``), or the parser's own message.
    pub message: String,
}

/// Walks `de` and fails at the first repeated key. A document the format cannot parse
/// is also an error (the caller's own parse would report it the same way).
pub fn check<'de, D: Deserializer<'de>>(de: D) -> Result<(), Duplicate> {
    serde_path_to_error::deserialize::<_, Walk>(de).map(|_| ()).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let mut message = e.into_inner().to_string();
        // A format may prefix its own (parent) path; ours is more precise.
        if let Some((prefix, rest)) = message.split_once(": ") {
            if !prefix.contains(' ') && path.starts_with(prefix) {
                message = rest.to_owned();
            }
        }
        Duplicate { path, message }
    })
}

/// Any value, walked for repeated keys.
struct Walk;

/// A map key as text when it is a scalar (`None` for a complex YAML key, which cannot be
/// compared and is left alone).
struct Key(Option<String>);

/// Fails with the duplicate's message where its value would be read, so the path names it.
struct Repeated(String);

impl<'de> de::Deserialize<'de> for Walk {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(WalkVisitor)
    }
}

struct WalkVisitor;

impl<'de> Visitor<'de> for WalkVisitor {
    type Value = Walk;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_i128<E>(self, _: i128) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_u128<E>(self, _: u128) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_str<E>(self, _: &str) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_unit<E>(self) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_none<E>(self) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Walk, D::Error> {
        de.deserialize_any(WalkVisitor)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<Walk, D::Error> {
        de.deserialize_any(WalkVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
        while seq.next_element::<Walk>()?.is_some() {}
        Ok(Walk)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
        let mut seen = HashSet::new();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match key {
                Some(k) if !seen.insert(k.clone()) => {
                    map.next_value_seed(Repeated(k))?;
                }
                _ => {
                    map.next_value::<Walk>()?;
                }
            }
        }
        Ok(Walk)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Walk, A::Error> {
        // A YAML tag (`!name value`) arrives as an enum: walk its value.
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant::<Walk>(variant)
    }
}

// === impl Key ===

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(Key(Some(v.to_owned())))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
        Ok(Key(Some(v.to_string())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
        Ok(Key(Some(v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
        Ok(Key(Some(v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
        Ok(Key(Some(v.to_string())))
    }
    fn visit_unit<E>(self) -> Result<Key, E> {
        Ok(Key(Some("~".to_owned())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Key, A::Error> {
        WalkVisitor.visit_seq(seq).map(|_| Key(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Key, A::Error> {
        WalkVisitor.visit_map(map).map(|_| Key(None))
    }
}

// === impl Repeated ===

impl<'de> DeserializeSeed<'de> for Repeated {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom(format_args!("duplicate key `{}`", self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Result<(), Duplicate> {
        check(&mut serde_json::Deserializer::from_str(text))
    }

    fn yaml(text: &str) -> Result<(), Duplicate> {
        check(serde_yaml_ng::Deserializer::from_str(text))
    }

    #[test]
    fn a_repeated_key_is_named_with_its_path() {
        assert_eq!(json(r#"{"a": {"b": [1, {"c": 1, "d": 2}]}}"#), Ok(()));
        let dup = json(r#"{"a": {"b": [1, {"c": 1, "c": 2}]}}"#).expect_err("duplicate");
        assert_eq!(dup.path, "a.b[1].c");
        assert!(dup.message.starts_with("duplicate key `c`"), "{}", dup.message);
        let dup = json(r#"{"weights": {"x": 1}, "weights": {"x": 2}}"#).expect_err("duplicate");
        assert_eq!(dup.path, "weights");
        let dup = yaml("providers:\n  m: { kind: mock }\n  m: { kind: mock }\n").expect_err("duplicate");
        assert_eq!(dup.path, "providers.m");
        let dup = yaml("a: 1\n1: x\n'1': y\n").expect_err("a number and its text are the same key");
        assert!(dup.message.starts_with("duplicate key `1`"), "{}", dup.message);
        assert_eq!(yaml("a: !tag { b: 1 }\nc: [x, y]\n"), Ok(()));
        assert!(yaml("a: !tag { b: 1, b: 2 }\n").is_err());
    }

    #[test]
    fn a_document_that_does_not_parse_is_an_error() {
        assert!(json("{\"a\": ").is_err());
        assert!(yaml("a: [").is_err());
    }
}
