//! Storage's Prometheus metrics, as the end-to-end benchmark reads them: messages acked and
//! the commit-latency histogram.

/// One scrape of storage's `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// Messages acked after their rows committed.
    pub acked: f64,
    /// Commit-latency histogram: (upper bound in seconds, cumulative count), ascending, the
    /// last bound infinite.
    pub latency: Vec<(f64, f64)>,
}

const ACKED: &str = "marketprism_storage_messages_acked_total";
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
        if name == ACKED {
            scrape.acked = value;
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
            acked: self.acked - earlier.acked,
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
marketprism_storage_messages_acked_total 100
marketprism_storage_commit_latency_seconds_sum 12.5
marketprism_storage_commit_latency_seconds_count 100
marketprism_storage_commit_latency_seconds_bucket{le="0.1"} 50
marketprism_storage_commit_latency_seconds_bucket{le="0.2"} 90
marketprism_storage_commit_latency_seconds_bucket{le="+Inf"} 100
"#;

    #[test]
    fn reads_acks_and_interpolates_quantiles() {
        let scrape = parse(TEXT);
        assert_eq!(scrape.acked, 100.0);
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
                .replace("acked_total 100", "acked_total 160")
                .replace("{le=\"0.1\"} 50", "{le=\"0.1\"} 110")
                .replace("{le=\"0.2\"} 90", "{le=\"0.2\"} 150")
                .replace("{le=\"+Inf\"} 100", "{le=\"+Inf\"} 160"),
        );
        let interval = later.since(&earlier);
        assert_eq!(interval.acked, 60.0);
        assert_eq!(interval.latency_quantile(1.0), Some(0.1));
    }
}
