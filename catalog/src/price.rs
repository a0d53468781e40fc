//! [`Price`]: an exact, non-negative decimal, written in JSON as a string (`"2.5"`).
//!
//! Prices are never `f64`: a JSON number is refused (`2.5` must be written `"2.5"`), text
//! is parsed digit by digit into a [`Decimal`] (28 significant digits), and a price is
//! written back normalised (`"2.50"` reads back as `"2.5"`), so two equal prices always
//! serialise the same. Invariant: a `Price` built by deserialising is non-negative; one
//! built in code is checked by `validate`.

use std::fmt;

use rust_decimal::Decimal;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern a price's text must match: digits, optionally a point and more digits.
pub const PRICE_PATTERN: &str = r"^[0-9]{1,28}(\.[0-9]{1,28})?$";

/// An exact non-negative decimal amount (e.g. US dollars per million tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(pub Decimal);

// === impl Price ===

impl Price {
    /// Parses plain decimal text (`"2.5"`, `"0"`, `"15.00"`); refuses signs, exponents,
    /// blanks and anything past 28 significant digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        let well_formed = {
            let (int, frac) = text.split_once('.').unwrap_or((text, "0"));
            !int.is_empty()
                && !frac.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        };
        if !well_formed {
            return Err(format!("must be a non-negative decimal string like \"2.50\", not {text:?}"));
        }
        Decimal::from_str_exact(text)
            .map(Price)
            .map_err(|e| format!("{text:?} is not an exact decimal within 28 digits: {e}"))
    }

    /// The amount.
    pub fn get(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Price;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative decimal string like \"2.50\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Price, E> {
                Price::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl JsonSchema for Price {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Price".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": PRICE_PATTERN,
            "description": "An exact non-negative decimal written as a string, e.g. \"2.50\".",
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_exact_strings_and_refuse_numbers_signs_and_exponents() {
        let p: Price = serde_json::from_str("\"2.50\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"2.5\"");
        assert_eq!(p.get(), Decimal::new(25, 1));
        for bad in ["2.5", "\"-1\"", "\"1e-6\"", "\" 1\"", "\"\"", "\"1.\"", "\".5\"", "\"NaN\""] {
            let err = serde_json::from_str::<Price>(bad).unwrap_err().to_string();
            assert!(err.contains("decimal"), "{bad}: {err}");
        }
        // More digits than a Decimal holds exactly is refused, not rounded.
        assert!(Price::parse("0.00000000000000000000000000001").is_err());
        assert_eq!(Price::parse("0").unwrap().to_string(), "0");
    }
}
