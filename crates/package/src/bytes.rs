//! Sizes as people read them, the same in every program: "256 MiB",
//! "1.5 KiB", "12 B" (powers of 1024).

/// "256 MiB", "1.5 KiB", "12 B".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_as_people_write_them() {
        for (bytes, expect) in [
            (0, "0 B"),
            (12, "12 B"),
            (1536, "1.5 KiB"),
            (256 << 20, "256 MiB"),
            (3 << 30, "3 GiB"),
            (5 << 40, "5120 GiB"),
        ] {
            assert_eq!(human_bytes(bytes), expect);
        }
    }
}
