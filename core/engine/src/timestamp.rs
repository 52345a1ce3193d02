//! Points in time as documents and HTTP carry them.
//!
//! Documents say when they changed in ISO 8601 (`updated_at`); HTTP says it in
//! IMF-fixdate (`Last-Modified`, `If-Modified-Since`); Flagsmith's header
//! `X-Flagsmith-Document-Updated-At` says it in epoch seconds. One small type
//! converts between the three without pulling in a date library.

use std::fmt::Write as _;

/// Microseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

const MICROS: i64 = 1_000_000;
const DAY_NAMES: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Timestamp {
    /// From whole seconds since the epoch.
    pub fn from_unix_seconds(seconds: i64) -> Timestamp {
        Timestamp(seconds.saturating_mul(MICROS))
    }

    /// Whole seconds since the epoch (floored).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(MICROS)
    }

    /// Seconds since the epoch as a float, as Flagsmith's updated-at header gives them.
    pub fn epoch_seconds_f64(self) -> f64 {
        self.0 as f64 / MICROS as f64
    }

    /// Parses what Python's `datetime.fromisoformat` accepts for Flagsmith dates:
    /// `YYYY-MM-DD[THH[:MM[:SS[.ffffff]]]][Z|±HH[:MM]]`; no offset means UTC.
    pub fn parse_iso8601(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = text.get(range)?;
            if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        let mut micros_of_day = 0;
        let mut i = 10;
        if i < b.len() && (b[i] == b'T' || b[i] == b' ') {
            i += 1;
            let hour = num(i..i + 2)?;
            i += 2;
            let (mut minute, mut second, mut fraction) = (0, 0, 0);
            if b.get(i) == Some(&b':') {
                minute = num(i + 1..i + 3)?;
                i += 3;
                if b.get(i) == Some(&b':') {
                    second = num(i + 1..i + 3)?;
                    i += 3;
                    if matches!(b.get(i), Some(b'.') | Some(b',')) {
                        let start = i + 1;
                        let mut end = start;
                        while end < b.len() && b[end].is_ascii_digit() {
                            end += 1;
                        }
                        if end == start {
                            return None;
                        }
                        let digits = &text[start..end.min(start + 6)];
                        fraction =
                            digits.parse::<i64>().ok()? * 10_i64.pow(6 - digits.len() as u32);
                        i = end;
                    }
                }
            }
            if hour > 23 || minute > 59 || second > 59 {
                return None;
            }
            micros_of_day = ((hour * 60 + minute) * 60 + second) * MICROS + fraction;
        }
        let mut offset_seconds = 0;
        match b.get(i) {
            None => {}
            Some(b'Z') | Some(b'z') if i + 1 == b.len() => {}
            Some(&sign @ (b'+' | b'-')) => {
                let hours = num(i + 1..i + 3)?;
                let mut j = i + 3;
                if b.get(j) == Some(&b':') {
                    j += 1;
                }
                let minutes = if j < b.len() { num(j..j + 2)? } else { 0 };
                if j < b.len() && j + 2 != b.len() {
                    return None;
                }
                offset_seconds = (hours * 60 + minutes) * 60 * if sign == b'-' { -1 } else { 1 };
            }
            _ => return None,
        }
        let days = days_from_civil(year, month, day);
        Some(Timestamp(
            days * 86_400 * MICROS + micros_of_day - offset_seconds * MICROS,
        ))
    }

    /// RFC 3339 in UTC with microseconds, as Flagsmith writes `updated_at`.
    pub fn to_iso8601(self) -> String {
        let seconds = self.unix_seconds();
        let micros = self.0.rem_euclid(MICROS);
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        let secs_of_day = seconds.rem_euclid(86_400);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
            secs_of_day / 3600,
            secs_of_day / 60 % 60,
            secs_of_day % 60
        )
    }

    /// IMF-fixdate, the form of `Last-Modified`: `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn to_http_date(self) -> String {
        let seconds = self.unix_seconds();
        let days = seconds.div_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let secs_of_day = seconds.rem_euclid(86_400);
        let mut out = String::with_capacity(29);
        let _ = write!(
            out,
            "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
            DAY_NAMES[days.rem_euclid(7) as usize],
            MONTH_NAMES[(month - 1) as usize],
            secs_of_day / 3600,
            secs_of_day / 60 % 60,
            secs_of_day % 60
        );
        out
    }

    /// Parses an IMF-fixdate (`If-Modified-Since`). Other obsolete forms are not accepted.
    pub fn parse_http_date(text: &str) -> Option<Timestamp> {
        let parts: Vec<&str> = text.split_ascii_whitespace().collect();
        if parts.len() != 6 || parts[5] != "GMT" || !parts[0].ends_with(',') {
            return None;
        }
        let day: i64 = parts[1].parse().ok()?;
        let month = MONTH_NAMES.iter().position(|m| *m == parts[2])? as i64 + 1;
        let year: i64 = parts[3].parse().ok()?;
        let hms: Vec<i64> = parts[4]
            .split(':')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        if hms.len() != 3
            || day < 1
            || day > days_in_month(year, month)
            || hms[0] > 23
            || hms[1] > 59
            || hms[2] > 60
        {
            return None;
        }
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
        Some(Timestamp::from_unix_seconds(seconds))
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_parse() {
        let t = Timestamp::parse_iso8601("2025-11-16T13:28:31.244331+00:00").unwrap();
        assert_eq!(t.0, 1_763_299_711_244_331);
        assert_eq!(t.to_iso8601(), "2025-11-16T13:28:31.244331+00:00");
        assert_eq!(
            Timestamp::parse_iso8601("2025-11-16T14:28:31.244331+01:00"),
            Some(t)
        );
        assert_eq!(
            Timestamp::parse_iso8601("2025-11-16T13:28:31.244331Z"),
            Some(t)
        );
        assert_eq!(Timestamp::parse_iso8601("1970-01-01"), Some(Timestamp(0)));
        for bad in [
            "",
            "2025-13-01",
            "2025-02-30T00:00:00",
            "2025-11-16T25:00:00",
            "yesterday",
        ] {
            assert_eq!(Timestamp::parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_round_trip() {
        let t = Timestamp::from_unix_seconds(784_111_777);
        assert_eq!(t.to_http_date(), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            Timestamp::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(t)
        );
        assert_eq!(
            Timestamp::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            None
        );
    }
}
