//! Resource quantities (`100m`, `1.5Gi`, `2e3`), parsed exactly into thousandths.

/// A quantity in thousandths of its unit (millicores for CPU, millibytes for memory).
/// Fractions below a thousandth round up, as Kubernetes does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Milli(pub i128);

impl Milli {
    /// Whole units, rounded up (bytes for memory, cores for CPU).
    pub fn ceil_units(self) -> i128 {
        (self.0 + 999).div_euclid(1000)
    }
}

/// Parses a Kubernetes quantity. The error says what is wrong, in Kubernetes' words.
pub fn parse(s: &str) -> Result<Milli, String> {
    let bad = || {
        format!(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got {s:?})"
        )
    };
    let s = s.trim();
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(num_end);
    let (negative, digits) = match number.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    if digits.is_empty() || digits.matches('.').count() > 1 || digits.contains(['+', '-']) {
        return Err(bad());
    }
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad());
    }
    // value = mantissa / 10^scale
    let mantissa: i128 = format!("{int_part}{frac_part}")
        .parse()
        .map_err(|_| bad())?;
    let mut scale = frac_part.len() as i32;
    // Multiply by the suffix: (factor, extra decimal exponent).
    let (factor, exp10): (i128, i32) = match suffix {
        "" => (1, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..].parse().map_err(|_| bad())?;
            (1, exp)
        }
        _ => return Err(bad()),
    };
    // thousandths = mantissa * factor * 10^(exp10 + 3 - scale), rounded up.
    scale -= exp10 + 3;
    let value = mantissa.checked_mul(factor).ok_or_else(bad)?;
    let milli = if scale <= 0 {
        value
            .checked_mul(10i128.checked_pow(scale.unsigned_abs()).ok_or_else(bad)?)
            .ok_or_else(bad)?
    } else {
        let div = 10i128.checked_pow(scale as u32).unwrap_or(i128::MAX);
        (value + div - 1) / div
    };
    Ok(Milli(if negative { -milli } else { milli }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_notation_exactly() {
        let cases: &[(&str, i128)] = &[
            ("1", 1000),
            ("100m", 100),
            ("0.5", 500),
            ("1.5", 1500),
            ("2k", 2_000_000),
            ("1Ki", 1_024_000),
            ("500Mi", 500 * (1 << 20) * 1000),
            ("1.5Gi", 1_610_612_736_000),
            ("32Gi", 32 * (1i128 << 30) * 1000),
            ("1e3", 1_000_000),
            ("1E-3", 1),
            ("0.0001", 1),
            ("250u", 1),
            ("-1", -1000),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s), Ok(Milli(*want)), "{s}");
        }
        for bad in ["", "abc", "1x", "1..2", "Mi", "1.2.3Gi"] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
        assert_eq!(parse("1500m").unwrap().ceil_units(), 2);
    }
}
