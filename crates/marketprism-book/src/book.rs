//! The L2 book: total quantity per exact decimal price, on both sides.

use std::collections::BTreeMap;

use marketprism_model::{Decimal, PriceLevel};

/// A side of the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookSide {
    /// Buy orders; the best bid is the highest price.
    Bid,
    /// Sell orders; the best ask is the lowest price.
    Ask,
}

/// An L2 order book keyed by exact decimal prices.
///
/// Levels are stored as the venue sent them (a zero quantity deletes a level). A book may be
/// bounded to `max_depth` levels per side; truncation drops the worst levels and remembers the
/// worst price it kept, so a later update beyond that boundary (whose neighbours are unknown)
/// is ignored rather than shown as if the levels between were empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    max_depth: Option<usize>,
    /// Bids below this price were truncated away and are unknown.
    bid_floor: Option<Decimal>,
    /// Asks above this price were truncated away and are unknown.
    ask_ceiling: Option<Decimal>,
}

impl Book {
    /// An empty, unbounded book.
    pub fn new() -> Self {
        Book::default()
    }

    /// An empty book keeping at most `max_depth` levels per side.
    pub fn with_max_depth(max_depth: usize) -> Self {
        Book {
            max_depth: Some(max_depth.max(1)),
            ..Book::default()
        }
    }

    /// The most levels kept per side, if the book is bounded.
    pub fn max_depth(&self) -> Option<usize> {
        self.max_depth
    }

    /// Replaces the whole book with a snapshot. Zero-quantity levels are skipped.
    pub fn apply_snapshot(&mut self, bids: &[PriceLevel], asks: &[PriceLevel]) {
        self.clear();
        self.apply_levels(BookSide::Bid, bids);
        self.apply_levels(BookSide::Ask, asks);
    }

    /// Applies absolute level updates to one side: a zero quantity deletes the level.
    pub fn apply_levels(&mut self, side: BookSide, levels: &[PriceLevel]) {
        for level in levels {
            self.set_level(side, level.price, level.quantity);
        }
        self.enforce_depth(side);
    }

    /// Sets the quantity at `price` (zero deletes), unless `price` lies beyond a truncation
    /// boundary.
    fn set_level(&mut self, side: BookSide, price: Decimal, quantity: Decimal) {
        let beyond_boundary = match side {
            BookSide::Bid => self.bid_floor.is_some_and(|floor| price < floor),
            BookSide::Ask => self.ask_ceiling.is_some_and(|ceiling| price > ceiling),
        };
        if beyond_boundary {
            return;
        }
        let levels = self.side_mut(side);
        if quantity.is_zero() {
            levels.remove(&price);
        } else {
            levels.insert(price, quantity);
        }
    }

    fn enforce_depth(&mut self, side: BookSide) {
        let Some(max_depth) = self.max_depth else {
            return;
        };
        match side {
            BookSide::Bid => {
                while self.bids.len() > max_depth {
                    self.bids.pop_first();
                }
                if self.bids.len() == max_depth {
                    self.bid_floor = self.bids.first_key_value().map(|(price, _)| *price);
                }
            }
            BookSide::Ask => {
                while self.asks.len() > max_depth {
                    self.asks.pop_last();
                }
                if self.asks.len() == max_depth {
                    self.ask_ceiling = self.asks.last_key_value().map(|(price, _)| *price);
                }
            }
        }
    }

    /// Empties the book and forgets truncation boundaries.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.bid_floor = None;
        self.ask_ceiling = None;
    }

    fn side_mut(&mut self, side: BookSide) -> &mut BTreeMap<Decimal, Decimal> {
        match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        }
    }

    /// The highest bid.
    pub fn best_bid(&self) -> Option<PriceLevel> {
        self.bids
            .last_key_value()
            .map(|(price, quantity)| PriceLevel::new(*price, *quantity))
    }

    /// The lowest ask.
    pub fn best_ask(&self) -> Option<PriceLevel> {
        self.asks
            .first_key_value()
            .map(|(price, quantity)| PriceLevel::new(*price, *quantity))
    }

    /// True when the best bid is at or above the best ask: a book no venue can have.
    pub fn is_crossed(&self) -> bool {
        match (self.best_bid(), self.best_ask()) {
            (Some(bid), Some(ask)) => bid.price >= ask.price,
            _ => false,
        }
    }

    /// Levels of one side, best first.
    pub fn levels(&self, side: BookSide) -> Box<dyn Iterator<Item = PriceLevel> + '_> {
        let level = |(price, quantity): (&Decimal, &Decimal)| PriceLevel::new(*price, *quantity);
        match side {
            BookSide::Bid => Box::new(self.bids.iter().rev().map(level)),
            BookSide::Ask => Box::new(self.asks.iter().map(level)),
        }
    }

    /// The best `n` levels of one side, best first.
    pub fn top(&self, side: BookSide, n: usize) -> Vec<PriceLevel> {
        self.levels(side).take(n).collect()
    }

    /// Number of levels on one side.
    pub fn depth(&self, side: BookSide) -> usize {
        match side {
            BookSide::Bid => self.bids.len(),
            BookSide::Ask => self.asks.len(),
        }
    }

    /// True when neither side has a level.
    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_levels::level;

    #[test]
    fn snapshot_then_delta_updates_inserts_and_deletes() {
        let mut book = Book::new();
        book.apply_snapshot(
            &[level("100", "1"), level("99", "2"), level("98", "0")],
            &[level("101", "3"), level("102", "4")],
        );
        assert_eq!(
            book.depth(BookSide::Bid),
            2,
            "zero levels of a snapshot are skipped"
        );
        book.apply_levels(BookSide::Bid, &[level("100", "0"), level("99.5", "5")]);
        book.apply_levels(BookSide::Ask, &[level("102", "7")]);
        assert_eq!(
            book.top(BookSide::Bid, 10),
            vec![level("99.5", "5"), level("99", "2")]
        );
        assert_eq!(
            book.top(BookSide::Ask, 1),
            vec![level("101", "3")],
            "top-N is best first"
        );
        assert_eq!(book.best_ask(), Some(level("101", "3")));
        assert!(!book.is_crossed());
        book.apply_levels(BookSide::Bid, &[level("101", "1")]);
        assert!(book.is_crossed());
    }

    #[test]
    fn equal_prices_of_different_scale_are_one_level() {
        let mut book = Book::new();
        book.apply_levels(BookSide::Ask, &[level("1.10", "1")]);
        book.apply_levels(BookSide::Ask, &[level("1.1", "0")]);
        assert!(book.is_empty());
    }

    #[test]
    fn truncation_keeps_the_best_levels_and_ignores_updates_beyond_the_boundary() {
        let mut book = Book::with_max_depth(2);
        book.apply_snapshot(
            &[level("100", "1"), level("99", "1"), level("98", "1")],
            &[level("101", "1"), level("102", "1"), level("103", "1")],
        );
        assert_eq!(
            book.top(BookSide::Bid, 5),
            vec![level("100", "1"), level("99", "1")]
        );
        assert_eq!(
            book.top(BookSide::Ask, 5),
            vec![level("101", "1"), level("102", "1")]
        );
        // 98 was dropped: an update there must not reappear as if 98.5..99 were known empty.
        book.apply_levels(BookSide::Bid, &[level("100", "0"), level("97", "4")]);
        assert_eq!(book.top(BookSide::Bid, 5), vec![level("99", "1")]);
        // Inside the boundary updates still apply.
        book.apply_levels(BookSide::Ask, &[level("101.5", "2")]);
        assert_eq!(
            book.top(BookSide::Ask, 5),
            vec![level("101", "1"), level("101.5", "2")]
        );
        book.apply_snapshot(&[level("90", "1")], &[]);
        book.apply_levels(BookSide::Bid, &[level("80", "1")]);
        assert_eq!(
            book.depth(BookSide::Bid),
            2,
            "a snapshot resets the boundary"
        );
    }
}
