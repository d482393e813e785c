//! Book checksums venues publish alongside updates.

use crate::{Book, BookSide};

/// Levels per side the OKX checksum covers.
const OKX_CHECKSUM_DEPTH: usize = 25;

/// The OKX `books` checksum of `book`: CRC32 (as a signed 32-bit integer) of the best 25 bids
/// and asks interleaved as `bidPx:bidSz:askPx:askSz:…`, each number written as the venue sent
/// it (the book keeps each decimal's scale).
pub fn okx_checksum(book: &Book) -> i32 {
    let mut bids = book.levels(BookSide::Bid).take(OKX_CHECKSUM_DEPTH);
    let mut asks = book.levels(BookSide::Ask).take(OKX_CHECKSUM_DEPTH);
    let mut text = String::with_capacity(OKX_CHECKSUM_DEPTH * 2 * 24);
    let mut push = |level: marketprism_model::PriceLevel| {
        use std::fmt::Write;
        if !text.is_empty() {
            text.push(':');
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{}:{}", level.price, level.quantity);
    };
    for _ in 0..OKX_CHECKSUM_DEPTH {
        let (bid, ask) = (bids.next(), asks.next());
        if bid.is_none() && ask.is_none() {
            break;
        }
        bid.into_iter().chain(ask).for_each(&mut push);
    }
    i32::from_ne_bytes(crc32fast::hash(text.as_bytes()).to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_levels::level;

    #[test]
    fn matches_the_documented_example_layout() {
        // OKX documents the string for bids 3366.1:7, 3366:6 and asks 3366.8:9, 3368:8
        // as "3366.1:7:3366.8:9:3366:6:3368:8".
        let mut book = Book::new();
        book.apply_snapshot(
            &[level("3366.1", "7"), level("3366", "6")],
            &[level("3366.8", "9"), level("3368", "8")],
        );
        let expected = crc32fast::hash(b"3366.1:7:3366.8:9:3366:6:3368:8");
        assert_eq!(okx_checksum(&book), expected as i32);
    }

    #[test]
    fn uneven_sides_list_the_remaining_levels_alone() {
        let mut book = Book::new();
        book.apply_snapshot(
            &[level("1.0", "2"), level("0.9", "3")],
            &[level("1.1", "4")],
        );
        let expected = crc32fast::hash(b"1.0:2:1.1:4:0.9:3");
        assert_eq!(okx_checksum(&book), expected as i32);
    }
}
