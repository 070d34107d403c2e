//! Cron schedules (`*/5 * * * *`, `@hourly`), as CronJob's `spec.schedule` takes them.

use std::collections::BTreeSet;

/// A parsed five-field schedule: minute, hour, day of month, month, day of week.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub minutes: BTreeSet<u32>,
    pub hours: BTreeSet<u32>,
    pub days_of_month: BTreeSet<u32>,
    pub months: BTreeSet<u32>,
    pub days_of_week: BTreeSet<u32>,
    /// Whether day of month / day of week were restricted (cron ORs them when both are).
    dom_restricted: bool,
    dow_restricted: bool,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn field(
    spec: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_base: u32,
) -> Result<BTreeSet<u32>, String> {
    let mut out = BTreeSet::new();
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("invalid step {s:?} in {spec:?}"))?,
            ),
            None => (part, 1),
        };
        let value = |v: &str| -> Result<u32, String> {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
                return Ok(i as u32 + name_base);
            }
            let n: u32 = v
                .parse()
                .map_err(|_| format!("invalid value {v:?} in {spec:?}"))?;
            if n < min || n > max {
                return Err(format!("value {n} out of range [{min}, {max}] in {spec:?}"));
            }
            Ok(n)
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if step > 1 { max } else { v })
        };
        if lo > hi {
            return Err(format!("range {lo}-{hi} is backwards in {spec:?}"));
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    Ok(out)
}

impl Schedule {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        if s.starts_with("TZ=") || s.starts_with("CRON_TZ=") {
            return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into());
        }
        let expanded = match s {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let [min, hour, dom, month, dow] = parts.as_slice() else {
            return Err(format!(
                "expected exactly 5 fields, found {}: {input:?}",
                parts.len()
            ));
        };
        let mut days_of_week = field(dow, 0, 7, DAYS, 0)?;
        if days_of_week.remove(&7) {
            days_of_week.insert(0);
        }
        Ok(Schedule {
            minutes: field(min, 0, 59, &[], 0)?,
            hours: field(hour, 0, 23, &[], 0)?,
            days_of_month: field(dom, 1, 31, &[], 1)?,
            months: field(month, 1, 12, MONTHS, 1)?,
            days_of_week,
            dom_restricted: !matches!(*dom, "*" | "?"),
            dow_restricted: !matches!(*dow, "*" | "?"),
        })
    }

    /// Whether the schedule fires at this (UTC) minute.
    pub fn matches(&self, month: u32, day: u32, weekday: u32, hour: u32, minute: u32) -> bool {
        let dom = self.days_of_month.contains(&day);
        let dow = self.days_of_week.contains(&weekday);
        let day_ok = match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom || dow,
            _ => dom && dow,
        };
        day_ok
            && self.months.contains(&month)
            && self.hours.contains(&hour)
            && self.minutes.contains(&minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_schedules() {
        let s = Schedule::parse("*/15 9-17 * * mon-fri").unwrap();
        assert_eq!(s.minutes, [0, 15, 30, 45].into());
        assert_eq!(s.hours.len(), 9);
        assert_eq!(s.days_of_week, [1, 2, 3, 4, 5].into());
        assert!(s.matches(3, 4, 2, 10, 30));
        assert!(!s.matches(3, 4, 0, 10, 30));
        let h = Schedule::parse("@hourly").unwrap();
        assert!(h.matches(1, 1, 0, 5, 0) && !h.matches(1, 1, 0, 5, 1));
        let sunday = Schedule::parse("0 0 * * 7").unwrap();
        assert!(sunday.days_of_week.contains(&0));
        let either = Schedule::parse("0 0 1 * mon").unwrap();
        assert!(either.matches(2, 1, 3, 0, 0) && either.matches(2, 9, 1, 0, 0));
    }

    #[test]
    fn rejects_bad_schedules() {
        for bad in [
            "* * * *",
            "60 * * * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "TZ=UTC * * * * *",
            "x * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
