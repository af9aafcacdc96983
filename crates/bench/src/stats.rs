//! Percentiles over latency samples.

use std::time::Duration;

use serde::Serialize;

/// Count, percentiles and extremes of a set of samples, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// Summarizes samples given in milliseconds. Percentiles are nearest-rank:
    /// p99 of 100 samples is the 99th smallest, of 10 samples the largest.
    pub fn of_ms(samples: &[f64]) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Summary {
            count: sorted.len(),
            p50: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
            max: sorted[sorted.len() - 1],
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
        }
    }

    pub fn of_durations(samples: &[Duration]) -> Summary {
        Summary::of_ms(&samples.iter().map(|d| ms(*d)).collect::<Vec<_>>())
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The median of a few measurements (the middle one, or the lower middle).
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

/// The largest of a few measurements (0 for none).
pub fn best(samples: &[f64]) -> f64 {
    samples.iter().copied().fold(0.0, f64::max)
}

/// Bytes per second in MB/s (10^6 bytes).
pub fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64().max(1e-9) / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let check = |samples: &[f64], p50: f64, p99: f64, max: f64| {
            let s = Summary::of_ms(samples);
            assert_eq!((s.p50, s.p99, s.max), (p50, p99, max), "{samples:?}");
        };
        check(&[5.0], 5.0, 5.0, 5.0);
        check(&[3.0, 1.0, 2.0], 2.0, 3.0, 3.0);
        let hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        check(&hundred, 50.0, 99.0, 100.0);
        assert_eq!(Summary::of_ms(&[]).count, 0);
        assert_eq!(median(&[4.0, 1.0, 3.0]), 3.0);
    }
}
