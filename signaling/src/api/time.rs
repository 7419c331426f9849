//! Time zones and days. Times are stored and sent in UTC; a "day" in a list
//! is a calendar day in the viewer's zone (Mexico spans four).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::ApiError;

pub const DEFAULT_TZ: &str = "America/Mexico_City";

pub fn parse_tz(name: &str) -> Result<Tz, ApiError> {
    name.parse::<Tz>()
        .map_err(|_| ApiError::bad_request("validation", format!("unknown time zone {:?}", truncate(name))))
}

/// The UTC instants bounding `day` in `tz`: [start, end).
pub fn day_bounds(day: NaiveDate, tz: Tz) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let local_midnight = |d: NaiveDate| {
        let naive = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        // earliest(): on a DST change at midnight the day starts at the first valid instant.
        tz.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
    };
    let next = day
        .succ_opt()
        .ok_or_else(|| ApiError::bad_request("validation", "day out of range"))?;
    match (local_midnight(day), local_midnight(next)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(ApiError::bad_request(
            "validation",
            "day has no midnight in this time zone",
        )),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mexico_city_day_is_utc_minus_six() {
        let tz = parse_tz("America/Mexico_City").unwrap();
        let (a, b) = day_bounds(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(), tz).unwrap();
        assert_eq!(a.to_rfc3339(), "2026-11-25T06:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2026-11-26T06:00:00+00:00");
        let tijuana = parse_tz("America/Tijuana").unwrap();
        let (a, _) = day_bounds(NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(), tijuana).unwrap();
        assert_eq!(a.to_rfc3339(), "2026-07-01T07:00:00+00:00");
        assert!(parse_tz("Mars/Olympus").is_err());
    }
}
