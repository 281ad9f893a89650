//! A meeting's `recurrence`: an RFC 5545 `RRULE`, parsed once at the edge into the subset the
//! scheduler expands (`scheduler::plan::occurrences`).
//!
//! Every occurrence is at the time of day of `startDate`, so the rule only picks *days*:
//! `FREQ` DAILY/WEEKLY/MONTHLY/YEARLY with `INTERVAL`, `COUNT` or `UNTIL`, `BYDAY` (with an
//! ordinal such as `2TU`/`-1FR` in monthly and yearly rules), `BYMONTHDAY`, `BYMONTH` and
//! `WKST`. Parts that would pick other times or that the expander does not implement are
//! refused with a reason, never ignored: a silently dropped `BYSETPOS` would schedule meetings
//! on the wrong days.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Why a recurrence rule was refused; the text is meant for the admin who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecurrenceError(String);

impl RecurrenceError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// `FREQ`; sub-daily frequencies are refused because a meeting keeps its time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "DAILY",
            Self::Weekly => "WEEKLY",
            Self::Monthly => "MONTHLY",
            Self::Yearly => "YEARLY",
        }
    }
}

/// One `BYDAY` entry: a weekday, in monthly/yearly rules optionally the n-th of the month
/// (`2TU` = second Tuesday, `-1FR` = last Friday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByDay {
    pub nth: Option<i8>,
    pub weekday: Weekday,
}

/// `UNTIL` in the three forms RFC 5545 has. All are inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// `20270301`: up to and including that day, in the meeting's zone.
    Date(Date),
    /// `20270301T100000`: wall-clock time in the meeting's zone.
    Local(DateTime),
    /// `20270301T000000Z`: an instant.
    Utc(Timestamp),
}

/// How a series ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesEnd {
    Never,
    /// This many occurrences, the first being `startDate` (EXDATEs count, as in RFC 5545).
    Count(u32),
    Until(Until),
}

/// A checked recurrence rule. It keeps the text as written so that storing and showing it
/// gives back what the admin typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    source: String,
    freq: Frequency,
    interval: u32,
    end: SeriesEnd,
    by_day: Vec<ByDay>,
    by_month_day: Vec<i8>,
    by_month: Vec<i8>,
    week_start: Weekday,
}

impl Recurrence {
    /// The rule as written (trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn freq(&self) -> Frequency {
        self.freq
    }
    /// `INTERVAL`, at least 1.
    pub fn interval(&self) -> u32 {
        self.interval
    }
    pub fn end(&self) -> SeriesEnd {
        self.end
    }
    pub fn by_day(&self) -> &[ByDay] {
        &self.by_day
    }
    /// 1..=31 or -31..=-1 (counted from the end of the month).
    pub fn by_month_day(&self) -> &[i8] {
        &self.by_month_day
    }
    /// 1..=12.
    pub fn by_month(&self) -> &[i8] {
        &self.by_month
    }
    /// `WKST`, Monday unless given.
    pub fn week_start(&self) -> Weekday {
        self.week_start
    }
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

const SUPPORTED: &[&str] = &[
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "WKST",
];

/// Parts RFC 5545 (and RFC 7529) define that this scheduler refuses, with the reason.
const REFUSED: &[(&str, &str)] = &[
    (
        "BYHOUR",
        "the time of day of every occurrence is the time of startDate",
    ),
    (
        "BYMINUTE",
        "the time of day of every occurrence is the time of startDate",
    ),
    (
        "BYSECOND",
        "the time of day of every occurrence is the time of startDate",
    ),
    (
        "BYSETPOS",
        "pick the day with BYDAY and an ordinal instead, e.g. BYDAY=-1FR for the last Friday",
    ),
    (
        "BYWEEKNO",
        "use FREQ=WEEKLY with INTERVAL, or list the days you need",
    ),
    ("BYYEARDAY", "use BYMONTH with BYMONTHDAY instead"),
    ("RSCALE", "only the Gregorian calendar is supported"),
    ("SKIP", "only the Gregorian calendar is supported"),
];

impl FromStr for Recurrence {
    type Err = RecurrenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let source = s.trim();
        let body = strip_prefix(source)?;
        let mut b = Builder::default();
        let mut seen: Vec<String> = Vec::new();
        for part in body.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                RecurrenceError::new(format!("`{part}` is not a NAME=VALUE part"))
            })?;
            let name = name.trim().to_ascii_uppercase();
            if seen.contains(&name) {
                return Err(RecurrenceError::new(format!("{name} is given twice")));
            }
            b.part(&name, value.trim())?;
            seen.push(name);
        }
        b.finish(source)
    }
}

/// The rule without an optional `RRULE:` prefix; a pasted `DTSTART` or a second line is
/// refused because the first occurrence is `startDate`.
fn strip_prefix(source: &str) -> Result<&str, RecurrenceError> {
    if source.is_empty() {
        return Err(RecurrenceError::new(
            "the rule is empty; write e.g. FREQ=WEEKLY;BYDAY=TU;COUNT=12",
        ));
    }
    if source.contains(['\n', '\r']) || source.to_ascii_uppercase().contains("DTSTART") {
        return Err(RecurrenceError::new(
            "give only the RRULE line; the first occurrence comes from startDate",
        ));
    }
    let upper = source.to_ascii_uppercase();
    if upper.starts_with("EXRULE") || upper.starts_with("RDATE") || upper.starts_with("EXDATE") {
        return Err(RecurrenceError::new(
            "only an RRULE is accepted here; list skipped days under `exdate`",
        ));
    }
    Ok(if upper.starts_with("RRULE:") {
        &source["RRULE:".len()..]
    } else {
        source
    })
}

#[derive(Default)]
struct Builder {
    freq: Option<Frequency>,
    interval: Option<u32>,
    count: Option<u32>,
    until: Option<Until>,
    by_day: Vec<ByDay>,
    by_month_day: Vec<i8>,
    by_month: Vec<i8>,
    week_start: Option<Weekday>,
}

impl Builder {
    fn part(&mut self, name: &str, value: &str) -> Result<(), RecurrenceError> {
        match name {
            "FREQ" => self.freq = Some(parse_freq(value)?),
            "INTERVAL" => self.interval = Some(positive(name, value)?),
            "COUNT" => self.count = Some(positive(name, value)?),
            "UNTIL" => self.until = Some(parse_until(value)?),
            "BYDAY" => self.by_day = list(value, parse_by_day)?,
            "BYMONTHDAY" => self.by_month_day = list(value, parse_month_day)?,
            "BYMONTH" => self.by_month = list(value, parse_month)?,
            "WKST" => self.week_start = Some(parse_weekday(value)?),
            _ => return Err(unknown_part(name)),
        }
        Ok(())
    }

    fn finish(self, source: &str) -> Result<Recurrence, RecurrenceError> {
        let freq = self.freq.ok_or_else(|| {
            RecurrenceError::new("FREQ is missing; start the rule with e.g. FREQ=WEEKLY")
        })?;
        let end = match (self.count, self.until) {
            (Some(_), Some(_)) => {
                return Err(RecurrenceError::new(
                    "COUNT and UNTIL cannot both be given (RFC 5545); keep one of them",
                ));
            }
            (Some(n), None) => SeriesEnd::Count(n),
            (None, Some(u)) => SeriesEnd::Until(u),
            (None, None) => SeriesEnd::Never,
        };
        check_combination(freq, &self.by_day, &self.by_month_day, &self.by_month)?;
        Ok(Recurrence {
            source: source.to_string(),
            freq,
            interval: self.interval.unwrap_or(1),
            end,
            by_day: self.by_day,
            by_month_day: self.by_month_day,
            by_month: self.by_month,
            week_start: self.week_start.unwrap_or(Weekday::Monday),
        })
    }
}

fn unknown_part(name: &str) -> RecurrenceError {
    if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
        return RecurrenceError::new(format!("{name} is not supported: {why}"));
    }
    let close = SUPPORTED
        .iter()
        .map(|k| (k, strsim::jaro_winkler(name, k)))
        .filter(|(_, score)| *score >= 0.85)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match close {
        Some((k, _)) => {
            RecurrenceError::new(format!("unknown rule part {name}; did you mean {k}?"))
        }
        None => RecurrenceError::new(format!(
            "unknown rule part {name}; supported are {}",
            SUPPORTED.join(", ")
        )),
    }
}

/// Combinations RFC 5545 forbids, and the ones outside the supported subset.
fn check_combination(
    freq: Frequency,
    by_day: &[ByDay],
    by_month_day: &[i8],
    by_month: &[i8],
) -> Result<(), RecurrenceError> {
    let ordinal = by_day.iter().find(|d| d.nth.is_some());
    match freq {
        Frequency::Daily | Frequency::Weekly if ordinal.is_some() => {
            Err(RecurrenceError::new(format!(
                "BYDAY with a number (such as 2TU) needs FREQ=MONTHLY or FREQ=YEARLY, not FREQ={}",
                freq.as_str()
            )))
        }
        Frequency::Weekly if !by_month_day.is_empty() => Err(RecurrenceError::new(
            "BYMONTHDAY cannot be used with FREQ=WEEKLY (RFC 5545); use FREQ=MONTHLY",
        )),
        Frequency::Yearly if !by_day.is_empty() && by_month.is_empty() => {
            Err(RecurrenceError::new(
                "BYDAY with FREQ=YEARLY is only supported together with BYMONTH \
                 (e.g. FREQ=YEARLY;BYMONTH=3;BYDAY=-1FR); for every week use FREQ=WEEKLY",
            ))
        }
        _ => Ok(()),
    }
}

fn parse_freq(value: &str) -> Result<Frequency, RecurrenceError> {
    match value.to_ascii_uppercase().as_str() {
        "DAILY" => Ok(Frequency::Daily),
        "WEEKLY" => Ok(Frequency::Weekly),
        "MONTHLY" => Ok(Frequency::Monthly),
        "YEARLY" => Ok(Frequency::Yearly),
        f @ ("HOURLY" | "MINUTELY" | "SECONDLY") => Err(RecurrenceError::new(format!(
            "FREQ={f} is not supported: a meeting recurs at the same time of day; \
             use DAILY, WEEKLY, MONTHLY or YEARLY"
        ))),
        _ => Err(RecurrenceError::new(format!(
            "FREQ={value} is not a frequency; use DAILY, WEEKLY, MONTHLY or YEARLY"
        ))),
    }
}

fn positive(name: &str, value: &str) -> Result<u32, RecurrenceError> {
    match value.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(RecurrenceError::new(format!(
            "{name}={value} is not a whole number of 1 or more"
        ))),
    }
}

fn list<T>(
    value: &str,
    one: impl Fn(&str) -> Result<T, RecurrenceError>,
) -> Result<Vec<T>, RecurrenceError>
where
    T: PartialEq,
{
    let mut out: Vec<T> = Vec::new();
    for item in value.split(',').map(str::trim) {
        let v = one(item)?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("MO", Weekday::Monday),
    ("TU", Weekday::Tuesday),
    ("WE", Weekday::Wednesday),
    ("TH", Weekday::Thursday),
    ("FR", Weekday::Friday),
    ("SA", Weekday::Saturday),
    ("SU", Weekday::Sunday),
];

fn parse_weekday(value: &str) -> Result<Weekday, RecurrenceError> {
    let v = value.to_ascii_uppercase();
    WEEKDAYS
        .iter()
        .find(|(code, _)| *code == v)
        .map(|(_, d)| *d)
        .ok_or_else(|| {
            RecurrenceError::new(format!(
                "{value:?} is not a weekday; use MO, TU, WE, TH, FR, SA or SU"
            ))
        })
}

/// `TU`, `2TU`, `+2TU`, `-1FR`.
fn parse_by_day(item: &str) -> Result<ByDay, RecurrenceError> {
    let split = item.len().saturating_sub(2);
    let (num, day) = item.split_at_checked(split).ok_or_else(|| {
        RecurrenceError::new(format!("BYDAY entry {item:?} is not like TU or 2TU"))
    })?;
    let weekday = parse_weekday(day)
        .map_err(|_| RecurrenceError::new(format!("BYDAY entry {item:?} is not like TU or 2TU")))?;
    if num.is_empty() {
        return Ok(ByDay { nth: None, weekday });
    }
    match num.parse::<i8>() {
        Ok(n) if n != 0 && (-5..=5).contains(&n) => Ok(ByDay {
            nth: Some(n),
            weekday,
        }),
        _ => Err(RecurrenceError::new(format!(
            "BYDAY entry {item:?}: the number before the weekday must be 1 to 5 or -1 to -5 \
             (a month has at most five of each weekday)"
        ))),
    }
}

fn parse_month_day(item: &str) -> Result<i8, RecurrenceError> {
    match item.parse::<i8>() {
        Ok(n) if n != 0 && (-31..=31).contains(&n) => Ok(n),
        _ => Err(RecurrenceError::new(format!(
            "BYMONTHDAY entry {item:?} must be 1 to 31, or -1 to -31 counted from the month's end"
        ))),
    }
}

fn parse_month(item: &str) -> Result<i8, RecurrenceError> {
    match item.parse::<i8>() {
        Ok(n) if (1..=12).contains(&n) => Ok(n),
        _ => Err(RecurrenceError::new(format!(
            "BYMONTH entry {item:?} must be a month number from 1 to 12"
        ))),
    }
}

/// `YYYYMMDD`, `YYYYMMDDTHHMMSS` (meeting's zone) or `YYYYMMDDTHHMMSSZ` (UTC).
fn parse_until(value: &str) -> Result<Until, RecurrenceError> {
    let v = value.to_ascii_uppercase();
    let bad = || {
        RecurrenceError::new(format!(
            "UNTIL={value} is not a date; write it as 20270301, 20270301T100000 or 20270301T090000Z"
        ))
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match v.len() {
        8 if digits(&v) => Date::strptime("%Y%m%d", &v)
            .map(Until::Date)
            .map_err(|_| bad()),
        15 if digits(&v[..8]) && &v[8..9] == "T" && digits(&v[9..]) => {
            DateTime::strptime("%Y%m%dT%H%M%S", &v)
                .map(Until::Local)
                .map_err(|_| bad())
        }
        16 if digits(&v[..8]) && &v[8..9] == "T" && digits(&v[9..15]) && v.ends_with('Z') => {
            DateTime::strptime("%Y%m%dT%H%M%S", &v[..15])
                .ok()
                .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|z| Until::Utc(z.timestamp()))
                .ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

impl Serialize for Recurrence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Recurrence {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse()
            .map_err(|e| serde::de::Error::custom(format!("recurrence: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        s.parse::<Recurrence>().unwrap_err().to_string()
    }

    #[test]
    fn weekly_with_prefix_and_lower_case() {
        let r: Recurrence = "RRULE:freq=weekly;byday=TU,th;COUNT=12".parse().unwrap();
        assert_eq!(r.freq(), Frequency::Weekly);
        assert_eq!(r.end(), SeriesEnd::Count(12));
        assert_eq!(r.by_day().len(), 2);
        assert_eq!(r.interval(), 1);
        assert_eq!(r.week_start(), Weekday::Monday);
        assert_eq!(r.to_string(), "RRULE:freq=weekly;byday=TU,th;COUNT=12");
    }

    #[test]
    fn until_forms() {
        let utc: Recurrence = "FREQ=DAILY;UNTIL=20270301T000000Z".parse().unwrap();
        assert_eq!(
            utc.end(),
            SeriesEnd::Until(Until::Utc("2027-03-01T00:00:00Z".parse().unwrap()))
        );
        let day: Recurrence = "FREQ=DAILY;UNTIL=20270301".parse().unwrap();
        assert_eq!(
            day.end(),
            SeriesEnd::Until(Until::Date(jiff::civil::date(2027, 3, 1)))
        );
        let local: Recurrence = "FREQ=DAILY;UNTIL=20270301T100000".parse().unwrap();
        assert!(matches!(local.end(), SeriesEnd::Until(Until::Local(_))));
        assert!(err("FREQ=DAILY;UNTIL=2027-03-01").contains("not a date"));
        assert!(err("FREQ=DAILY;UNTIL=20271301").contains("not a date"));
    }

    #[test]
    fn ordinals_and_month_days() {
        let r: Recurrence = "FREQ=MONTHLY;BYDAY=-1FR,+2TU;BYMONTH=1,1,3"
            .parse()
            .unwrap();
        assert_eq!(
            r.by_day()[0],
            ByDay {
                nth: Some(-1),
                weekday: Weekday::Friday
            }
        );
        assert_eq!(r.by_month(), &[1, 3]);
        assert!(err("FREQ=MONTHLY;BYDAY=6TU").contains("1 to 5"));
        assert!(err("FREQ=MONTHLY;BYMONTHDAY=32").contains("1 to 31"));
        assert!(err("FREQ=MONTHLY;BYMONTH=13").contains("1 to 12"));
        assert!(err("FREQ=MONTHLY;BYDAY=XX").contains("not like TU"));
    }

    #[test]
    fn refusals_say_why() {
        assert!(err("").contains("empty"));
        assert!(err("BYDAY=TU").contains("FREQ is missing"));
        assert!(err("FREQ=HOURLY").contains("same time of day"));
        assert!(err("FREQ=FORTNIGHTLY").contains("not a frequency"));
        assert!(err("FREQ=WEEKLY;BYHOUR=10").contains("BYHOUR is not supported"));
        assert!(err("FREQ=MONTHLY;BYDAY=TU;BYSETPOS=-1").contains("BYSETPOS is not supported"));
        assert!(err("FREQ=WEEKLY;COUNT=2;UNTIL=20270101").contains("cannot both"));
        assert!(err("FREQ=WEEKLY;COUNT=0").contains("1 or more"));
        assert!(err("FREQ=WEEKLY;INTERVAL=-1").contains("1 or more"));
        assert!(err("FREQ=WEEKLY;FREQ=DAILY").contains("twice"));
        assert!(err("FREQ=WEEKLY;BYDAYS=TU").contains("did you mean BYDAY?"));
        assert!(err("FREQ=WEEKLY;X-FOO=1").contains("supported are"));
        assert!(err("FREQ=WEEKLY;BYDAY=2TU").contains("MONTHLY"));
        assert!(err("FREQ=WEEKLY;BYMONTHDAY=3").contains("FREQ=WEEKLY"));
        assert!(err("FREQ=YEARLY;BYDAY=MO").contains("BYMONTH"));
        assert!(err("DTSTART:20261201T100000\nRRULE:FREQ=DAILY").contains("startDate"));
        assert!(err("EXDATE:20261201").contains("exdate"));
        assert!(err("FREQ=WEEKLY;COUNT").contains("NAME=VALUE"));
    }

    #[test]
    fn serde_keeps_the_text_and_explains_errors() {
        let r: Recurrence = serde_json::from_str(r#""FREQ=WEEKLY;BYDAY=TU""#).unwrap();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#""FREQ=WEEKLY;BYDAY=TU""#
        );
        let e = serde_json::from_str::<Recurrence>(r#""FREQ=WEEKLY;BYHOUR=9""#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("recurrence: BYHOUR"), "{e}");
    }
}
