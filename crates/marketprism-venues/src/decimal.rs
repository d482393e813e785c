//! Decimal fields and price levels as venues send them.

use std::borrow::Cow;
use std::fmt;

use marketprism_model::{Decimal, PriceLevel};
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use crate::VenueError;

/// Parses a decimal string exactly, keeping its scale.
pub(crate) fn decimal(field: &'static str, value: &str) -> Result<Decimal, VenueError> {
    Decimal::from_str_exact(value).map_err(|_| VenueError::Decimal {
        field,
        value: value.to_owned(),
    })
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
