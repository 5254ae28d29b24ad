//! Byte counts in human units for the pretty view: binary prefixes (KiB,
//! MiB, ...) with one decimal, plain bytes below 1 KiB. Machine formats
//! (TSV, JSON) never use this; they print raw integers.
//!
//! Hand-written: it is a dozen lines, and the crates that do it
//! (humansize, bytesize) differ from each other in rounding and spacing we
//! would then have to pin down anyway.

const PREFIXED: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// `512` → `"512 B"`, `1536` → `"1.5 KiB"`, `3 << 30` → `"3.0 GiB"`.
///
/// The unit is the largest one whose value, rounded to one decimal, stays
/// below 1024, so the output never reads `1024.0 KiB`.
pub fn human_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while (value * 10.0).round() >= 10240.0 && unit + 1 < PREFIXED.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", PREFIXED[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes_below_one_kib() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1023), "1023 B");
    }

    #[test]
    fn binary_prefixes_with_one_decimal() {
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 19), "1.5 MiB");
        assert_eq!(human_bytes(1 << 30), "1.0 GiB");
        assert_eq!(human_bytes((1 << 30) - 1), "1.0 GiB");
        assert_eq!(human_bytes(5 << 40), "5.0 TiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn rounding_moves_up_a_unit_instead_of_printing_1024() {
        assert_eq!(human_bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(human_bytes(1024 * 1024 - 60), "1023.9 KiB");
    }
}
