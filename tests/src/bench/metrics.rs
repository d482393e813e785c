//! Storage's Prometheus metrics, as the end-to-end benchmark reads them: rows committed and
//! the commit-latency histogram.

/// One scrape of storage's `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// Rows committed to ClickHouse, every table together: one per event.
    pub rows: f64,
    /// Messages acked after their rows committed.
    pub messages: f64,
    /// Commit-latency histogram: (upper bound in seconds, cumulative count), ascending, the
    /// last bound infinite.
    pub latency: Vec<(f64, f64)>,
}

const ACKED: &str = "marketprism_storage_messages_acked_total";
const ROWS: &str = "marketprism_storage_rows_inserted_total{table=\"";
const LATENCY_BUCKET: &str = "marketprism_storage_commit_latency_seconds_bucket{le=\"";

/// Reads the values the benchmark needs from Prometheus text.
pub fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        if name.starts_with(ROWS) {
            scrape.rows += value;
        } else if name == ACKED {
            scrape.messages = value;
        } else if let Some(bound) = name
            .strip_prefix(LATENCY_BUCKET)
            .and_then(|rest| rest.strip_suffix("\"}"))
        {
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().unwrap_or(f64::INFINITY)
            };
            scrape.latency.push((bound, value));
        }
    }
    scrape
        .latency
        .sort_by(|left, right| left.0.total_cmp(&right.0));
    scrape
}

impl Scrape {
    /// What happened between `earlier` and this scrape.
    pub fn since(&self, earlier: &Scrape) -> Scrape {
        let before = |bound: f64| {
            earlier
                .latency
                .iter()
                .find(|(other, _)| *other == bound)
                .map_or(0.0, |(_, count)| *count)
        };
        Scrape {
            rows: self.rows - earlier.rows,
            messages: self.messages - earlier.messages,
            latency: self
                .latency
                .iter()
                .map(|(bound, count)| (*bound, count - before(*bound)))
                .collect(),
        }
    }

    /// The `q` quantile of the latency in seconds, interpolated linearly inside its bucket
    /// (as Prometheus' `histogram_quantile`); infinite beyond the last finite bound, `None`
    /// without observations.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let total = self.latency.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut lower = (0.0, 0.0);
        for (bound, count) in &self.latency {
            if *count >= rank {
                if bound.is_infinite() {
                    return Some(f64::INFINITY);
                }
                let in_bucket = count - lower.1;
                let fraction = if in_bucket > 0.0 {
                    (rank - lower.1) / in_bucket
                } else {
                    1.0
                };
                return Some(lower.0 + (bound - lower.0) * fraction);
            }
            lower = (*bound, *count);
        }
        Some(f64::INFINITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP marketprism_storage_messages_acked Bus messages acked after their rows committed.
# TYPE marketprism_storage_messages_acked counter
marketprism_storage_messages_acked_total 7
# HELP marketprism_storage_rows_inserted Rows committed to ClickHouse.
# TYPE marketprism_storage_rows_inserted counter
marketprism_storage_rows_inserted_total{table="trades"} 90
marketprism_storage_rows_inserted_total{table="gaps"} 10
marketprism_storage_commit_latency_seconds_sum 12.5
marketprism_storage_commit_latency_seconds_count 100
marketprism_storage_commit_latency_seconds_bucket{le="0.1"} 50
marketprism_storage_commit_latency_seconds_bucket{le="0.2"} 90
marketprism_storage_commit_latency_seconds_bucket{le="+Inf"} 100
"#;

    #[test]
    fn sums_rows_of_every_table_and_interpolates_quantiles() {
        let scrape = parse(TEXT);
        assert_eq!(scrape.rows, 100.0);
        assert_eq!(scrape.messages, 7.0);
        assert_eq!(scrape.latency.len(), 3);
        let median = scrape.latency_quantile(0.5).expect("observations");
        assert!((median - 0.1).abs() < 1e-9, "{median}");
        let p70 = scrape.latency_quantile(0.7).expect("observations");
        assert!((p70 - 0.15).abs() < 1e-9, "{p70}");
        assert_eq!(scrape.latency_quantile(0.99), Some(f64::INFINITY));
        assert_eq!(Scrape::default().latency_quantile(0.5), None);
    }

    #[test]
    fn differences_cover_only_the_interval() {
        let earlier = parse(TEXT);
        let later = parse(
            &TEXT
                .replace("{table=\"trades\"} 90", "{table=\"trades\"} 150")
                .replace("acked_total 7", "acked_total 10")
                .replace("{le=\"0.1\"} 50", "{le=\"0.1\"} 110")
                .replace("{le=\"0.2\"} 90", "{le=\"0.2\"} 150")
                .replace("{le=\"+Inf\"} 100", "{le=\"+Inf\"} 160"),
        );
        let interval = later.since(&earlier);
        assert_eq!(interval.rows, 60.0);
        assert_eq!(interval.messages, 3.0);
        assert_eq!(interval.latency_quantile(1.0), Some(0.1));
    }
}
