//! The cost of one inference from the catalog's price (SPEC §8: each record carries `cost`
//! as ClickHouse `Decimal(38,12)` in the catalog currency's units, `currency` beside it).
//!
//! [`cost`] is `input_tokens × input_per_mtok / 1e6 + output_tokens × output_per_mtok /
//! 1e6` in exact decimals: no `f64` anywhere, so a sum of a million costs is the exact sum.
//! It is exact while the result fits a `Decimal`'s 28 significant digits (any price with up
//! to 10 decimals and up to 10^12 tokens); beyond that it is an error, never a rounded
//! value. A side with no tokens needs no price; a side with tokens and no price is an error
//! (the caller records no cost rather than a wrong one).
//!
//! [`clickhouse_decimal`] writes an amount as `Decimal(38,12)` text: exactly 12 decimals,
//! rounded half to even (no bias in sums), at most 26 integer digits.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::entry::Pricing;
use crate::problem::CatalogError;

/// Tokens per price unit.
const MILLION: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// ClickHouse `Decimal(38, 12)`: scale.
pub const CLICKHOUSE_SCALE: u32 = 12;
/// ClickHouse `Decimal(38, 12)`: digits before the point (38 − 12).
pub const CLICKHOUSE_INTEGER_DIGITS: usize = 26;

/// The cost of `input_tokens` and `output_tokens` at `pricing`, in `pricing.currency`.
pub fn cost(pricing: &Pricing, input_tokens: u64, output_tokens: u64) -> Result<Decimal, CatalogError> {
    let input = side(pricing.input_per_mtok.map(|p| p.get()), input_tokens, "pricing.input_per_mtok")?;
    let output = side(pricing.output_per_mtok.map(|p| p.get()), output_tokens, "pricing.output_per_mtok")?;
    input.checked_add(output).ok_or_else(|| CatalogError::OutOfRange("the cost".into()))
}

fn side(price: Option<Decimal>, tokens: u64, field: &'static str) -> Result<Decimal, CatalogError> {
    if tokens == 0 {
        return Ok(Decimal::ZERO);
    }
    let price = price.ok_or(CatalogError::MissingPrice(field))?;
    let out_of_range = || CatalogError::OutOfRange(format!("{tokens} tokens at {field} {price}"));
    let amount = Decimal::from(tokens).checked_mul(price).ok_or_else(out_of_range)?;
    let per_token = amount.checked_div(MILLION).ok_or_else(out_of_range)?;
    // Division by 10^6 only moves the point; if it could not, precision was lost.
    if per_token.checked_mul(MILLION) != Some(amount) {
        return Err(out_of_range());
    }
    Ok(per_token)
}

/// `amount` as ClickHouse `Decimal(38,12)` text, e.g. `0.008755000000`.
pub fn clickhouse_decimal(amount: Decimal) -> Result<String, CatalogError> {
    let rounded = amount.round_dp_with_strategy(CLICKHOUSE_SCALE, RoundingStrategy::MidpointNearestEven);
    let text = rounded.abs().to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    if int.len() > CLICKHOUSE_INTEGER_DIGITS {
        return Err(CatalogError::OutOfRange(format!("{amount} for Decimal(38,12)")));
    }
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() { "-" } else { "" };
    Ok(format!("{sign}{int}.{frac:0<width$}", width = CLICKHOUSE_SCALE as usize))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::price::Price;
    use std::str::FromStr;

    fn pricing(input: Option<&str>, output: Option<&str>) -> Pricing {
        Pricing {
            input_per_mtok: input.map(|p| Price::parse(p).unwrap()),
            output_per_mtok: output.map(|p| Price::parse(p).unwrap()),
            currency: "USD".into(),
        }
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn cost_is_tokens_times_price_per_million() {
        let p = pricing(Some("2.5"), Some("10"));
        assert_eq!(cost(&p, 1234, 567).unwrap(), dec("0.008755"));
        assert_eq!(cost(&p, 0, 0).unwrap(), Decimal::ZERO);
        assert_eq!(cost(&p, 1_000_000, 0).unwrap(), dec("2.5"));
        // Prices with many decimals stay exact.
        let fine = pricing(Some("0.0375"), Some("0.15"));
        assert_eq!(cost(&fine, 3, 7).unwrap(), dec("0.0000011625"));
    }

    #[test]
    fn a_missing_price_is_an_error_only_when_tokens_need_it() {
        let embed = pricing(Some("0.02"), None);
        assert_eq!(cost(&embed, 8191, 0).unwrap(), dec("0.00016382"));
        assert_eq!(cost(&embed, 1, 1), Err(CatalogError::MissingPrice("pricing.output_per_mtok")));
        let huge = pricing(Some("79228162514264337593543950335"), None);
        assert!(matches!(cost(&huge, u64::MAX, 0), Err(CatalogError::OutOfRange(_))));
    }

    #[test]
    fn a_million_costs_sum_without_drift() {
        let p = pricing(Some("0.1"), Some("0.3"));
        let mut exact = Decimal::ZERO;
        let mut float = 0.0_f64;
        for i in 0..1_000_000u64 {
            let c = cost(&p, 1 + i % 3, i % 2).unwrap();
            exact += c;
            float += c.to_string().parse::<f64>().unwrap();
        }
        // The same total in closed form: 1,999,999 input and 500,000 output tokens.
        let input_tokens: u64 = (0..1_000_000u64).map(|i| 1 + i % 3).sum();
        let output_tokens: u64 = (0..1_000_000u64).map(|i| i % 2).sum();
        let closed = (Decimal::from(input_tokens) * dec("0.1") + Decimal::from(output_tokens) * dec("0.3")) / MILLION;
        assert_eq!(exact, closed);
        assert_eq!(exact, dec("0.3499999"));
        // The same sum in f64 drifts: what the exact decimals are for.
        assert_ne!(float.to_string(), "0.3499999");
    }

    proptest::proptest! {
        /// Exactness as a law: the cost of a + b tokens is the cost of a plus the cost of b,
        /// for any price with up to 6 decimals and up to 10^12 tokens.
        #[test]
        fn cost_is_additive(units in 0u64..100_000_000, scale in 0u32..=6, a in 0u64..1_000_000_000_000, b in 0u64..1_000_000_000_000) {
            let price = Decimal::new(i64::try_from(units).unwrap(), scale).to_string();
            let p = pricing(Some(&price), Some(&price));
            let whole = cost(&p, a + b, a).unwrap();
            let parts = cost(&p, a, 0).unwrap() + cost(&p, b, 0).unwrap() + cost(&p, 0, a).unwrap();
            proptest::prop_assert_eq!(whole, parts);
            proptest::prop_assert_eq!(whole * MILLION, Decimal::from(2 * a + b) * dec(&price));
        }
    }

    #[test]
    fn clickhouse_text_has_twelve_decimals() {
        assert_eq!(clickhouse_decimal(dec("0.008755")).unwrap(), "0.008755000000");
        assert_eq!(clickhouse_decimal(Decimal::ZERO).unwrap(), "0.000000000000");
        assert_eq!(clickhouse_decimal(dec("12")).unwrap(), "12.000000000000");
        // Half to even at the 13th decimal.
        assert_eq!(clickhouse_decimal(dec("0.0000000000025")).unwrap(), "0.000000000002");
        assert_eq!(clickhouse_decimal(dec("0.0000000000035")).unwrap(), "0.000000000004");
        assert_eq!(clickhouse_decimal(dec("-1.5")).unwrap(), "-1.500000000000");
        assert_eq!(clickhouse_decimal(dec("99999999999999999999999999")).unwrap().len(), 26 + 13);
        assert!(clickhouse_decimal(dec("100000000000000000000000000")).is_err());
    }
}
