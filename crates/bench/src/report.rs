//! The results: one row per headline number, printed as a table and written
//! as JSON with each scenario's details.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

/// What a number is aiming for, checked against its value or its ratio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "bound", rename_all = "snake_case")]
pub enum Target {
    /// ratio ≥ bound (a throughput against its reference).
    RatioAtLeast(f64),
    /// ratio ≤ bound (bytes moved against bytes changed).
    RatioAtMost(f64),
    /// value < bound, in the row's unit.
    Below(f64),
    /// value − reference < bound (a time on top of a start-up time).
    BelowPlusReference(f64),
}

impl Target {
    fn describe(&self, unit: &str) -> String {
        match self {
            Target::RatioAtLeast(b) => format!(">= {b}x"),
            Target::RatioAtMost(b) => format!("<= {b}x"),
            Target::Below(b) => format!("< {} {unit}", number(*b)),
            Target::BelowPlusReference(b) => format!("< ref + {} {unit}", number(*b)),
        }
    }
}

/// One headline number.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: &'static str,
    pub metric: String,
    pub value: f64,
    pub unit: &'static str,
    /// The reference measured in the same run, in the same unit.
    pub reference: Option<f64>,
    /// What the reference is.
    pub reference_name: Option<String>,
    /// value / reference.
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    /// Whether the target is met; `None` without a target.
    pub met: Option<bool>,
}

impl Row {
    pub fn new(
        scenario: &'static str,
        metric: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Row {
        Row {
            scenario,
            metric: metric.into(),
            value,
            unit,
            reference: None,
            reference_name: None,
            ratio: None,
            target: None,
            met: None,
        }
    }

    /// Sets the reference and the ratio value / reference.
    pub fn reference(mut self, name: impl Into<String>, reference: f64) -> Row {
        self.reference = Some(reference);
        self.reference_name = Some(name.into());
        self.ratio = (reference != 0.0).then(|| self.value / reference);
        self.check()
    }

    pub fn target(mut self, target: Target) -> Row {
        self.target = Some(target);
        if matches!(target, Target::BelowPlusReference(_)) {
            // The reference is added to the bound, not divided into the value.
            self.ratio = None;
        }
        self.check()
    }

    fn check(mut self) -> Row {
        self.met = match (self.target, self.ratio, self.reference) {
            (Some(Target::RatioAtLeast(b)), Some(r), _) => Some(r >= b),
            (Some(Target::RatioAtMost(b)), Some(r), _) => Some(r <= b),
            (Some(Target::Below(b)), _, _) => Some(self.value < b),
            (Some(Target::BelowPlusReference(b)), _, Some(reference)) => {
                Some(self.value - reference < b)
            }
            _ => None,
        };
        self
    }
}

/// The machine the numbers come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_mib: u64,
    pub kernel: String,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split(':').nth(1)))
            .map(|m| m.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_mib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib / 1024)
            .unwrap_or(0);
        Machine {
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            cpu_model,
            memory_mib,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    /// The sizes and settings used.
    pub settings: Value,
    pub rows: Vec<Row>,
    /// Each scenario's full results, by name.
    pub scenarios: serde_json::Map<String, Value>,
    /// Scenarios that failed, with the reason.
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub scenario: String,
    pub error: String,
}

impl Report {
    /// The results as an aligned text table.
    pub fn table(&self) -> String {
        let header = ["scenario", "metric", "value", "reference", "ratio", "target", "ok"];
        let mut lines: Vec<[String; 7]> = vec![header.map(str::to_owned)];
        for row in &self.rows {
            let value = format!("{} {}", number(row.value), row.unit);
            let reference = match (&row.reference, &row.reference_name) {
                (Some(r), Some(name)) => format!("{} {} ({name})", number(*r), row.unit),
                _ => String::new(),
            };
            let ratio = row.ratio.map(|r| format!("{}x", number(r))).unwrap_or_default();
            let target = row.target.map(|t| t.describe(row.unit)).unwrap_or_default();
            let ok = match row.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            };
            lines.push([
                row.scenario.to_owned(),
                row.metric.clone(),
                value,
                reference,
                ratio,
                target,
                ok.to_owned(),
            ]);
        }
        let mut widths = [0usize; 7];
        for line in &lines {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            let mut text = String::new();
            for (j, (cell, w)) in line.iter().zip(widths).enumerate() {
                // Numbers right-aligned, words left-aligned.
                if j == 2 || j == 4 {
                    let _ = write!(text, "{cell:>w$}  ");
                } else {
                    let _ = write!(text, "{cell:<w$}  ");
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
            if i == 0 {
                let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
                out.push_str(&"-".repeat(total));
                out.push('\n');
            }
        }
        for failure in &self.failures {
            let _ = writeln!(out, "FAILED {}: {}", failure.scenario, failure.error);
        }
        out
    }
}

/// A number with about three significant digits.
pub fn number(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked() {
        let row = Row::new("t", "download", 700.0, "MB/s").reference("raw", 1000.0);
        assert_eq!(row.ratio, Some(0.7));
        assert_eq!(row.clone().target(Target::RatioAtLeast(0.7)).met, Some(true));
        assert_eq!(row.target(Target::RatioAtLeast(0.8)).met, Some(false));
        let row = Row::new("m", "all connected", 60.0, "ms").reference("start-up", 15.0);
        assert_eq!(row.target(Target::BelowPlusReference(50.0)).met, Some(true));
        assert_eq!(Row::new("c", "p50", 0.6, "ms").target(Target::Below(0.5)).met, Some(false));
    }

    #[test]
    fn numbers_keep_three_digits() {
        assert_eq!(number(1234.5), "1234");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(1.2345), "1.23");
        assert_eq!(number(0.01234), "0.012");
    }
}
