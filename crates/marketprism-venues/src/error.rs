//! Errors raised while interpreting venue frames.

/// What the caller should do about a [`VenueError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueErrorKind {
    /// The frame is not what the venue documents: keep it for inspection and move on.
    Malformed,
    /// The frame is well formed but names an instrument the configuration cannot map.
    UnknownSymbol,
    /// The configuration asks for something this venue does not offer: exit.
    Unsupported,
}

/// A frame could not be interpreted.
#[derive(Debug, thiserror::Error)]
pub enum VenueError {
    /// The frame is not valid JSON or lacks a documented field.
    #[error("malformed frame: {0}")]
    Json(#[from] serde_json::Error),
    /// A decimal field does not hold a decimal number.
    #[error("field {field} is not a decimal: {value:?}")]
    Decimal {
        /// The venue's field name.
        field: &'static str,
        /// The offending text.
        value: String,
    },
    /// The frame is valid JSON but matches no documented message.
    #[error("unrecognized frame: {0}")]
    Unrecognized(String),
    /// The venue's symbol cannot be mapped to a normalized symbol.
    #[error("unknown symbol {0:?}")]
    UnknownSymbol(String),
    /// The venue does not offer this channel on this market.
    #[error("{venue} does not offer the {channel} channel")]
    UnsupportedChannel {
        /// The venue and market, e.g. `binance spot`.
        venue: String,
        /// The channel requested.
        channel: &'static str,
    },
    /// The venue has no such period (statistics period or candle resolution) for a series.
    #[error("no {period:?} period for {series} (offered: {offered})")]
    UnsupportedPeriod {
        /// The series, e.g. `volatility_index`.
        series: &'static str,
        /// The configured period.
        period: String,
        /// The periods the venue offers.
        offered: &'static str,
    },
}

impl VenueError {
    /// Classifies the error for the caller's decision.
    pub fn kind(&self) -> VenueErrorKind {
        match self {
            VenueError::Json(_) | VenueError::Decimal { .. } | VenueError::Unrecognized(_) => {
                VenueErrorKind::Malformed
            }
            VenueError::UnknownSymbol(_) => VenueErrorKind::UnknownSymbol,
            VenueError::UnsupportedChannel { .. } | VenueError::UnsupportedPeriod { .. } => {
                VenueErrorKind::Unsupported
            }
        }
    }

    /// Builds an [`VenueError::Unrecognized`] quoting at most the start of the frame.
    pub(crate) fn unrecognized(frame: &str) -> Self {
        const QUOTE_LIMIT: usize = 200;
        let end = frame
            .char_indices()
            .map(|(index, _)| index)
            .find(|&index| index >= QUOTE_LIMIT)
            .unwrap_or(frame.len());
        VenueError::Unrecognized(frame[..end].to_owned())
    }
}
