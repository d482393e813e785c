//! Price levels for unit tests, written as decimal text.

use marketprism_model::PriceLevel;

/// The level at `price` holding `quantity`, both decimal text.
pub(crate) fn level(price: &str, quantity: &str) -> PriceLevel {
    PriceLevel::new(
        price.parse().expect("test price"),
        quantity.parse().expect("test quantity"),
    )
}
