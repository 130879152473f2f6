//! RFC 3339 timestamps from the millisecond clock the edge passes in (`Date.now()`).
//!
//! The core never reads the system clock; it formats the `epoch_ms` it is given. The calendar
//! conversion is Howard Hinnant's `civil_from_days` (public domain, "chrono-Compatible Low-Level
//! Date Algorithms"), which is exact for the proleptic Gregorian calendar, so no date crate is
//! needed for the one format the API uses.

/// Milliseconds in one day.
const MS_PER_DAY: u64 = 86_400_000;

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC with millisecond precision,
/// e.g. `1795785966123` → `"2026-11-27T13:26:06.123Z"`.
///
/// Total for every `u64`: years past 9999 get more than four digits (never reached by a real clock).
pub fn format_rfc3339_ms(epoch_ms: u64) -> String {
    let days = epoch_ms / MS_PER_DAY;
    let ms_of_day = epoch_ms % MS_PER_DAY;
    // `days` ≤ u64::MAX / 86_400_000 < 2^38, so it fits an i64 with room for the offsets below.
    let (year, month, day) = civil_from_days(days as i64);
    let secs = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        ms_of_day % 1000
    )
}

/// (year, month 1..=12, day 1..=31) of the day `days_since_epoch` after 1970-01-01.
fn civil_from_days(days_since_epoch: i64) -> (i64, i64, i64) {
    // Shift the epoch to 0000-03-01 so that the leap day is the last day of a "year", and count in
    // 400-year eras of 146 097 days.
    let z = days_since_epoch + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        // Expected values computed with Python's datetime (UTC).
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339_ms(1_795_785_966_123),
            "2026-11-27T13:26:06.123Z"
        );
        assert_eq!(
            format_rfc3339_ms(946_684_799_999),
            "1999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            format_rfc3339_ms(946_684_800_000),
            "2000-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn handles_leap_years_and_centuries() {
        // 2000 is a leap year (divisible by 400), 2100 is not (divisible by 100), 2400 is.
        assert_eq!(
            format_rfc3339_ms(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339_ms(1_709_251_199_999),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(
            format_rfc3339_ms(1_709_251_200_000),
            "2024-03-01T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339_ms(4_107_542_400_000),
            "2100-03-01T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339_ms(4_107_542_400_000 - 1),
            "2100-02-28T23:59:59.999Z"
        );
        assert_eq!(
            format_rfc3339_ms(13_574_606_400_000),
            "2400-02-29T12:00:00.000Z"
        );
    }

    #[test]
    fn never_panics_at_the_extremes() {
        assert!(format_rfc3339_ms(u64::MAX).ends_with('Z'));
    }
}
