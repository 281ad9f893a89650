//! From a parsed `<when>` to wall-clock times in the user's zone: every reading of an
//! ambiguous phrase, DST gaps and repeated hours spelled out, past times refused.
//!
//! Day arithmetic ("friday", "next friday", "3/4/2027") is done by `interim` on the user's
//! local calendar (a civil clock with no DST, so no day can be skipped); the zone is applied
//! afterwards, where gaps and folds are seen and asked back instead of guessed.

use super::ChatContext;
use super::error::Fail;
use super::every::Rule;
use super::when::{DateSpec, TimeSpec, When, weekday_name};
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, Zoned};

/// One way to read the `<when>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Choice {
    /// `startDate`: the wall-clock start in `zone_name`.
    pub start: DateTime,
    /// `timeZone`: the user's zone, or a fixed-offset zone for the second of a repeated hour
    /// (which the user's zone alone cannot name).
    pub zone_name: String,
    /// The instant, in the user's zone.
    pub at: Zoned,
}

impl Choice {
    /// "Thu 3 Dec 2026, 11:00 CET (Europe/Vienna)".
    pub fn label(&self) -> String {
        label(&self.at)
    }
}

/// All readings, and why there is more than one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub choices: Vec<Choice>,
    pub reasons: Vec<String>,
    /// Ask even with one choice (the second of a repeated hour cannot start a series).
    pub ask: bool,
}

/// "Thu 3 Dec 2026, 11:00 CET (Europe/Vienna)".
pub(crate) fn label(z: &Zoned) -> String {
    let name = z.time_zone().iana_name().unwrap_or("UTC offset");
    format!("{} ({name})", z.strftime("%a %-d %b %Y, %H:%M %Z"))
}

/// "Thu 3 Dec 2026".
pub(crate) fn day_label(d: Date) -> String {
    d.strftime("%a %-d %b %Y").to_string()
}

/// The user's zone by IANA name (what a meeting stores).
pub(crate) fn zone_name(ctx: &ChatContext) -> Result<String, Fail> {
    ctx.zone.iana_name().map(str::to_string).ok_or_else(|| {
        Fail::new("Your time zone has no IANA name; set one first, e.g. `timezone Europe/Vienna`.")
            .of("timezone")
    })
}

fn local_now(ctx: &ChatContext) -> DateTime {
    ctx.now.to_zoned(ctx.zone.clone()).datetime()
}

/// The start of a meeting: `when` (possibly empty when an `every` rule has the time), moved
/// to the first day the rule allows.
pub(crate) fn start_times(
    when: Option<&When>,
    rule: Option<&Rule>,
    ctx: &ChatContext,
) -> Result<Resolved, Fail> {
    let zone = zone_name(ctx)?;
    match when {
        Some(When::InMinutes(m)) if rule.is_none() => in_minutes(*m, ctx, &zone),
        Some(When::InMinutes(_)) => Err(Fail::new(
            "A series needs a day and a time of day, e.g. `every monday 10:00`.",
        )),
        Some(When::At { date, time }) => at(date.as_ref(), *time, rule, ctx, &zone),
        None => at(None, None, rule, ctx, &zone),
    }
}

fn in_minutes(minutes: i64, ctx: &ChatContext, zone: &str) -> Result<Resolved, Fail> {
    if minutes < 1 {
        return Err(Fail::new(
            "That is now; give a time at least a minute ahead.",
        ));
    }
    let at = ctx
        .now
        .checked_add(SignedDuration::from_mins(minutes))
        .ok()
        .and_then(|t| Timestamp::from_second(t.as_second() / 60 * 60).ok())
        .ok_or_else(too_far)?;
    let choice = storable(at.to_zoned(ctx.zone.clone()), &ctx.zone, zone);
    Ok(Resolved {
        choices: vec![choice],
        reasons: Vec::new(),
        ask: false,
    })
}

fn too_far() -> Fail {
    Fail::new("That is too far in the future.")
}

fn at(
    date: Option<&DateSpec>,
    time: Option<TimeSpec>,
    rule: Option<&Rule>,
    ctx: &ChatContext,
    zone: &str,
) -> Result<Resolved, Fail> {
    if let Some(DateSpec::Bad(why)) = date {
        return Err(Fail::new(format!("{why}.")));
    }
    let time = pick_time(time, rule)?;
    let (times, mut reasons) = time_options(time);
    let mut civil = Vec::new();
    for t in times {
        let (days, why) = date_options(date, t, ctx)?;
        reasons.extend(why);
        for d in days {
            let dt = d.to_datetime(t);
            civil.push(match rule {
                Some(r) => first_of_series(r, dt, date.is_none(), ctx)?,
                None => dt,
            });
        }
    }
    dedupe(&mut civil);
    expand(civil, rule.is_some(), date, ctx, zone, reasons)
}

/// The time from `<when>` or from the rule (`every monday 10:00`); one is needed.
fn pick_time(time: Option<TimeSpec>, rule: Option<&Rule>) -> Result<TimeSpec, Fail> {
    match (time, rule.and_then(|r| r.time)) {
        (Some(a), Some(b)) if a != b => Err(Fail::new(
            "Two different times are given; give the time once, e.g. `every monday 10:00`.",
        )),
        (Some(t), _) | (None, Some(t)) => Ok(t),
        (None, None) => Err(Fail::new(
            "At what time? Add one, e.g. `tomorrow 11:00` or `friday 3pm`.",
        )),
    }
}

/// `at 3` → 03:00 and 15:00; `at 12` → 12:00 and 00:00.
fn time_options(t: TimeSpec) -> (Vec<Time>, Vec<String>) {
    match t {
        TimeSpec::Exact(t) => (vec![t], Vec::new()),
        TimeSpec::BareHour(h) => {
            let (a, b) = if h == 12 { (12, 0) } else { (h, h + 12) };
            let times: Vec<Time> = [a, b]
                .into_iter()
                .filter_map(|h| Time::new(h, 0, 0, 0).ok())
                .collect();
            let why = format!("“{h}” can be {a:02}:00 or {b:02}:00");
            (times, vec![why])
        }
    }
}

/// The days `date` can mean, given the time of day (a plain weekday is today only while the
/// time is still ahead).
fn date_options(
    date: Option<&DateSpec>,
    time: Time,
    ctx: &ChatContext,
) -> Result<(Vec<Date>, Vec<String>), Fail> {
    let now = local_now(ctx);
    let today = now.date();
    let one = |d: Option<Date>| d.map(|d| (vec![d], Vec::new())).ok_or_else(too_far);
    match date {
        None | Some(DateSpec::Today) => one(Some(today)),
        Some(DateSpec::Tomorrow) => one(today.tomorrow().ok()),
        Some(DateSpec::InDays(n)) => one(today.checked_add(jiff::Span::new().days(*n)).ok()),
        Some(DateSpec::Absolute(d)) => one(Some(*d)),
        Some(DateSpec::Bad(why)) => Err(Fail::new(format!("{why}."))),
        Some(DateSpec::Weekday(w)) => one(natural(
            &weekday_name(*w).to_lowercase(),
            time,
            now,
            interim::Dialect::Uk,
        )),
        Some(DateSpec::NextWeekday(w)) => Ok(next_weekday(weekday_name(*w), time, now)),
        Some(DateSpec::DayMonth { day, month }) => one(day_month(*day, *month, time, now)),
        Some(DateSpec::Slash(s)) => slash_options(s, time, now),
    }
}

/// `interim` on the local calendar: the phrase with the time, read at `now` as if local time
/// were UTC (no DST there, so day arithmetic is exact).
fn natural(phrase: &str, time: Time, now: DateTime, dialect: interim::Dialect) -> Option<Date> {
    let base = now.to_zoned(TimeZone::UTC).ok()?;
    let text = format!("{phrase} {:02}:{:02}", time.hour(), time.minute());
    interim::parse_date_string(&text, base, dialect)
        .ok()
        .map(|z| z.date())
}

/// "next friday": the coming Friday (US reading) or the Friday of next week (UK reading).
fn next_weekday(day: &str, time: Time, now: DateTime) -> (Vec<Date>, Vec<String>) {
    let phrase = format!("next {}", day.to_lowercase());
    let mut days: Vec<Date> = [interim::Dialect::Us, interim::Dialect::Uk]
        .into_iter()
        .filter_map(|d| natural(&phrase, time, now, d))
        .collect();
    days.dedup();
    let why = match days.as_slice() {
        [a, b] => vec![format!(
            "“next {}” can be {} or {}",
            day.to_lowercase(),
            day_label(*a),
            day_label(*b)
        )],
        _ => Vec::new(),
    };
    (days, why)
}

/// `3 December` without a year: the next such day that is still ahead (29 February can be
/// up to four years away).
fn day_month(day: i8, month: i8, time: Time, now: DateTime) -> Option<Date> {
    let year = now.year();
    (0..=4)
        .filter_map(|k| year.checked_add(k))
        .filter_map(|y| Date::new(y, month, day).ok())
        .find(|d| d.to_datetime(time) > now)
}

/// `3/4/2027`: day-first and month-first; both are offered when both are dates and differ.
fn slash_options(s: &str, time: Time, now: DateTime) -> Result<(Vec<Date>, Vec<String>), Fail> {
    let has_year = s.matches('/').count() == 2;
    let mut days: Vec<Date> = [interim::Dialect::Uk, interim::Dialect::Us]
        .into_iter()
        .filter_map(|d| natural(s, time, now, d))
        .map(|d| next_year_if_past(d, has_year, time, now))
        .collect();
    days.dedup();
    if days.is_empty() {
        return Err(Fail::new(format!("“{s}” is not a date.")));
    }
    let why = match days.as_slice() {
        [a, b] => vec![format!(
            "“{s}” can be {} (day first) or {} (month first)",
            day_label(*a),
            day_label(*b)
        )],
        _ => Vec::new(),
    };
    Ok((days, why))
}

fn next_year_if_past(d: Date, has_year: bool, time: Time, now: DateTime) -> Date {
    if has_year || d.to_datetime(time) > now {
        return d;
    }
    d.checked_add(jiff::Span::new().years(1)).unwrap_or(d)
}

/// The first day on or after `dt` that the rule allows; when no day was typed, a time that
/// has passed today starts the series tomorrow. Rules without weekdays (`every week`,
/// `every month`) start on the typed day.
fn first_of_series(
    rule: &Rule,
    dt: DateTime,
    no_day: bool,
    ctx: &ChatContext,
) -> Result<DateTime, Fail> {
    if rule.needs_day() {
        return if no_day {
            Err(rule.missing_day())
        } else {
            Ok(dt)
        };
    }
    let mut day = dt.date();
    if no_day && dt <= local_now(ctx) {
        day = day.tomorrow().map_err(|_| too_far())?;
    }
    for _ in 0..7 {
        if rule.fits(day) {
            return Ok(day.to_datetime(dt.time()));
        }
        day = day.tomorrow().map_err(|_| too_far())?;
    }
    Err(Fail::new("No day fits that rule."))
}

fn dedupe(v: &mut Vec<DateTime>) {
    let mut seen = Vec::new();
    v.retain(|d| {
        let new = !seen.contains(d);
        seen.push(*d);
        new
    });
}

/// Each wall-clock time in the user's zone: one instant, or two at a DST gap or fold. Past
/// instants are dropped; none left is an error.
fn expand(
    civil: Vec<DateTime>,
    series: bool,
    date: Option<&DateSpec>,
    ctx: &ChatContext,
    zone: &str,
    mut reasons: Vec<String>,
) -> Result<Resolved, Fail> {
    let mut choices = Vec::new();
    let mut ask = false;
    let mut first_past = None;
    for dt in civil {
        let (found, why, repeated) = in_zone(dt, ctx, zone)?;
        reasons.extend(why);
        for (i, c) in found.into_iter().enumerate() {
            if c.at.timestamp() <= ctx.now {
                first_past.get_or_insert(c);
            } else if series && repeated && i == 1 {
                // The scheduler keeps a series at the first of a repeated hour.
                ask = true;
                reasons.push(
                    "a series starts at the first of the two; for the second, pick another time"
                        .into(),
                );
            } else {
                choices.push(c);
            }
        }
    }
    if choices.is_empty() {
        return Err(past(first_past, date));
    }
    ask |= choices.len() > 1;
    Ok(Resolved {
        choices,
        reasons,
        ask,
    })
}

fn past(c: Option<Choice>, date: Option<&DateSpec>) -> Fail {
    let Some(c) = c else {
        return Fail::new("That is in the past.");
    };
    let mut msg = format!("That is in the past: {}.", c.label());
    if matches!(date, None | Some(DateSpec::Today)) {
        msg.push_str(&format!(
            " For tomorrow, say `tomorrow {}`.",
            c.at.strftime("%H:%M")
        ));
    }
    Fail::new(msg)
}

type InZone = (Vec<Choice>, Option<String>, bool);

/// The instants of a wall-clock time in the user's zone, with the reason when there are two
/// and whether the time is repeated (a fold).
fn in_zone(dt: DateTime, ctx: &ChatContext, zone: &str) -> Result<InZone, Fail> {
    let amb = ctx.zone.to_ambiguous_zoned(dt);
    let day = day_label(dt.date());
    let hm = dt.strftime("%H:%M");
    let instants = |a: Offset, b: Offset| -> Result<Vec<Choice>, Fail> {
        let mut v = Vec::new();
        for off in [a, b] {
            let ts = off.to_timestamp(dt).map_err(|_| too_far())?;
            v.push(storable(ts.to_zoned(ctx.zone.clone()), &ctx.zone, zone));
        }
        v.sort_by_key(|c| c.at.timestamp());
        Ok(v)
    };
    match amb.offset() {
        AmbiguousOffset::Unambiguous { offset } => {
            Ok((instants(offset, offset)?[..1].to_vec(), None, false))
        }
        AmbiguousOffset::Gap { before, after } => {
            let why = format!(
                "{hm} does not exist on {day} in {zone}: the clocks are put forward that night"
            );
            Ok((instants(before, after)?, Some(why), false))
        }
        AmbiguousOffset::Fold { before, after } => {
            let why = format!(
                "{hm} happens twice on {day} in {zone}: the clocks are put back that night"
            );
            Ok((instants(before, after)?, Some(why), true))
        }
    }
}

/// A start the scheduler turns back into exactly this instant: the wall clock in the user's
/// zone, unless that names the other of a repeated hour (the scheduler takes the first);
/// then the same instant in a fixed-offset zone.
fn storable(at: Zoned, tz: &TimeZone, zone: &str) -> Choice {
    let civil = at.datetime();
    let same = tz
        .to_ambiguous_zoned(civil)
        .compatible()
        .is_ok_and(|z| z.timestamp() == at.timestamp());
    if same {
        return Choice {
            start: civil,
            zone_name: zone.to_string(),
            at,
        };
    }
    let (start, zone_name) = fixed_zone(&at);
    Choice {
        start,
        zone_name,
        at,
    }
}

/// `Etc/GMT-1` for UTC+01:00 (POSIX signs are inverted); UTC for offsets that are not whole
/// hours.
fn fixed_zone(at: &Zoned) -> (DateTime, String) {
    let secs = at.offset().seconds();
    let hours = secs / 3600;
    if secs % 3600 == 0 && (-12..=14).contains(&hours) && hours != 0 {
        let name = format!("Etc/GMT{:+}", -hours);
        if let Ok(tz) = TimeZone::get(&name) {
            return (at.with_time_zone(tz).datetime(), name);
        }
    }
    (
        at.with_time_zone(TimeZone::UTC).datetime(),
        "UTC".to_string(),
    )
}

/// A day alone (`until 2027-02-01`, `until 1 Feb`), not before `from`.
pub(crate) fn day(spec: &DateSpec, from: Date, ctx: &ChatContext) -> Result<Date, Fail> {
    let noon = Time::constant(12, 0, 0, 0);
    let from_now = from.to_datetime(Time::MIN);
    let resolved = match spec {
        DateSpec::DayMonth { day, month } => day_month(*day, *month, noon, from_now),
        DateSpec::Slash(s) => match slash_options(s, noon, from_now)?.0.as_slice() {
            [one] => Some(*one),
            _ => {
                return Err(Fail::new(format!(
                    "“{s}” can be read day-first or month-first; write the date as YYYY-MM-DD."
                )));
            }
        },
        DateSpec::NextWeekday(w) => {
            return Err(Fail::new(format!(
                "“next {}” can mean two days; write the date as YYYY-MM-DD.",
                weekday_name(*w).to_lowercase()
            )));
        }
        other => date_options(Some(other), noon, ctx)?.0.first().copied(),
    };
    resolved.ok_or_else(too_far)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ctx(zone: &str, now: &str) -> ChatContext {
        ChatContext {
            now: now.parse().unwrap(),
            zone: TimeZone::get(zone).unwrap(),
            actor_email: None,
            default_server: "bbb".parse().unwrap(),
            prefix: "!bbb".into(),
        }
    }

    #[test]
    fn fixed_zone_names_invert_the_sign() {
        let z = date(2026, 10, 25)
            .at(2, 30, 0, 0)
            .to_zoned(TimeZone::get("Europe/Vienna").unwrap())
            .unwrap();
        let (civil, name) = fixed_zone(&z);
        assert_eq!(name, "Etc/GMT-2");
        assert_eq!(civil, date(2026, 10, 25).at(2, 30, 0, 0));
        let k = date(2026, 1, 1)
            .at(10, 0, 0, 0)
            .to_zoned(TimeZone::get("Asia/Kolkata").unwrap())
            .unwrap();
        assert_eq!(
            fixed_zone(&k),
            (date(2026, 1, 1).at(4, 30, 0, 0), "UTC".into())
        );
    }

    #[test]
    fn second_of_a_repeated_hour_is_stored_with_a_fixed_offset() {
        let c = ctx("Europe/Vienna", "2026-10-01T00:00:00Z");
        let (found, why, repeated) =
            in_zone(date(2026, 10, 25).at(2, 30, 0, 0), &c, "Europe/Vienna").unwrap();
        assert!(repeated && why.unwrap().contains("twice"));
        assert_eq!(found[0].zone_name, "Europe/Vienna");
        assert_eq!(found[1].zone_name, "Etc/GMT-1");
        assert_eq!(found[1].start, date(2026, 10, 25).at(2, 30, 0, 0));
        assert_eq!(
            found[1]
                .at
                .timestamp()
                .duration_since(found[0].at.timestamp()),
            SignedDuration::from_hours(1)
        );
    }

    #[test]
    fn day_month_rolls_over_to_next_year() {
        let now = date(2026, 12, 2).at(9, 0, 0, 0);
        let t = Time::constant(10, 0, 0, 0);
        assert_eq!(day_month(3, 12, t, now), Some(date(2026, 12, 3)));
        assert_eq!(day_month(1, 12, t, now), Some(date(2027, 12, 1)));
        assert_eq!(day_month(29, 2, t, now), Some(date(2028, 2, 29)));
    }
}
