//! Decimal fields, times written as text and price levels as venues send them.

use std::borrow::Cow;
use std::fmt;

use marketprism_model::{Decimal, PriceLevel};
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use crate::VenueError;

/// Parses a decimal string exactly, keeping its scale.
pub(crate) fn decimal(field: &'static str, value: &str) -> Result<Decimal, VenueError> {
    plain_decimal(value)
        .or_else(|| Decimal::from_str_exact(value).ok())
        .ok_or_else(|| VenueError::Decimal {
            field,
            value: value.to_owned(),
        })
}

/// Unix milliseconds written as a string (OKX, Bybit: `"1597026383085"`).
pub(crate) fn millis(field: &'static str, value: &str) -> Result<i64, VenueError> {
    value.parse().map_err(|_| VenueError::Decimal {
        field,
        value: value.to_owned(),
    })
}

/// Most digits a `Decimal` mantissa holds for every value (10^28 < 2^96).
const PLAIN_DIGITS: usize = 28;

/// The fast path for what venues send almost always: `[-]digits[.digits]` with at most 28
/// digits. Anything else (exponents, signs, a lone point, negative zero, longer numbers) is
/// left to `Decimal::from_str_exact`, which gives the same value and scale, only slower.
fn plain_decimal(text: &str) -> Option<Decimal> {
    let (negative, body) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        bytes => (false, bytes),
    };
    let (integer, fraction) = match body.iter().position(|byte| *byte == b'.') {
        Some(point) => (&body[..point], &body[point + 1..]),
        None => (body, &body[body.len()..]),
    };
    let has_point = integer.len() < body.len();
    if integer.is_empty()
        || (has_point && fraction.is_empty())
        || integer.len() + fraction.len() > PLAIN_DIGITS
    {
        return None;
    }
    // Digits accumulate in a u64 while they surely fit (19 digits), in a u128 after that.
    let mut digits = integer.iter().chain(fraction);
    let mut narrow: u64 = 0;
    for byte in digits.by_ref().take(U64_DIGITS) {
        narrow = narrow * 10 + u64::from(digit(*byte)?);
    }
    let mut mantissa = u128::from(narrow);
    for byte in digits {
        mantissa = mantissa * 10 + u128::from(digit(*byte)?);
    }
    if negative && mantissa == 0 {
        return None;
    }
    // At most 28 digits: the mantissa fits 96 bits and the scale is at most 28.
    Some(Decimal::from_parts(
        mantissa as u32,
        (mantissa >> 32) as u32,
        (mantissa >> 64) as u32,
        negative,
        fraction.len() as u32,
    ))
}

/// Digits any u64 holds (10^19 - 1 < 2^64).
const U64_DIGITS: usize = 19;

/// The value of an ASCII digit.
fn digit(byte: u8) -> Option<u8> {
    let value = byte.wrapping_sub(b'0');
    (value < 10).then_some(value)
}

/// A level as most venues send it: an array whose first two elements are the price and
/// quantity strings (`["65140.4","0.885"]`; OKX appends order counts, which are skipped).
/// Borrows from the frame, so a book frame costs no allocation per level.
#[derive(Debug)]
pub(crate) struct WireLevel<'a> {
    price: Cow<'a, str>,
    quantity: Cow<'a, str>,
}

impl WireLevel<'_> {
    /// The level with both numbers parsed; `field` names the array in errors.
    pub(crate) fn parse(&self, field: &'static str) -> Result<PriceLevel, VenueError> {
        Ok(PriceLevel::new(
            decimal(field, &self.price)?,
            decimal(field, &self.quantity)?,
        ))
    }
}

/// Parses every level of one side.
pub(crate) fn levels(
    field: &'static str,
    levels: &[WireLevel<'_>],
) -> Result<Vec<PriceLevel>, VenueError> {
    levels.iter().map(|level| level.parse(field)).collect()
}

impl<'de: 'a, 'a> Deserialize<'de> for WireLevel<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LevelVisitor;

        impl<'de> Visitor<'de> for LevelVisitor {
            type Value = WireLevel<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an array [price, quantity, ...] of decimal strings")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let price: Text<'de> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let quantity: Text<'de> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(WireLevel {
                    price: price.0,
                    quantity: quantity.0,
                })
            }
        }

        deserializer.deserialize_seq(LevelVisitor)
    }
}

/// A JSON string borrowed from the frame when it has no escapes.
#[derive(Debug)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(value)))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(value.to_owned())))
            }
        }

        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn plain_forms_take_the_fast_path_and_others_fall_back() {
        assert_eq!(
            plain_decimal("65140.40").map(|d| d.to_string()).as_deref(),
            Some("65140.40")
        );
        assert_eq!(
            plain_decimal("-0.001").map(|d| d.to_string()).as_deref(),
            Some("-0.001")
        );
        for other in ["1e5", "+1", ".5", "1.", "-0", "", "-", "1.2.3", "12a"] {
            assert_eq!(plain_decimal(other), None, "{other:?}");
        }
        assert_eq!(
            decimal("f", "1e2").map(|d| d.to_string()).ok(),
            Decimal::from_str_exact("1e2").ok().map(|d| d.to_string())
        );
        assert!(decimal("f", "abc").is_err());
    }

    proptest! {
        /// The fast path agrees with `from_str_exact` on value and scale whenever it answers.
        #[test]
        fn fast_path_equals_the_exact_parser(text in "-?[0-9]{0,30}(\\.[0-9]{0,30})?") {
            if let Some(fast) = plain_decimal(&text) {
                let exact = Decimal::from_str_exact(&text).expect("a plain decimal parses");
                prop_assert_eq!(fast.to_string(), exact.to_string());
                prop_assert_eq!(fast.scale(), exact.scale());
            }
        }
    }
}
