//! `<when>`: the syntax of dates and times in chat ("tomorrow 11:00", "next friday 3pm",
//! "in 2 hours", "3 December 14:30", "14:30 on 3 Dec", "2026-12-03 14:00").
//!
//! Parsing is in two steps. [`parse_when`] only recognises the words (so that the meeting
//! name in front can be told apart from the date); [`super::resolve`] turns the result into
//! wall-clock times in the user's zone, with every reading when there is more than one.

use super::lex::Word;
use jiff::civil::{Date, Time, Weekday};

/// A time of day as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeSpec {
    Exact(Time),
    /// An hour without minutes or am/pm (`at 3`); 1 to 12 can be morning or afternoon.
    BareHour(i8),
}

/// A day as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DateSpec {
    Today,
    Tomorrow,
    /// `friday`, `this friday`: the coming one (today while the time is still ahead).
    Weekday(Weekday),
    /// `next friday`: the coming one or the one a week later.
    NextWeekday(Weekday),
    Absolute(Date),
    /// `3 December`, `Dec 3`, `3.12.`: the next such day.
    DayMonth {
        day: i8,
        month: i8,
    },
    /// `3/4/2027` or `3/4`, as typed: day-first or month-first.
    Slash(String),
    /// `in 3 days`.
    InDays(i32),
    /// Recognisably a date, but not a valid one; the text says why.
    Bad(String),
}

/// A parsed `<when>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum When {
    At {
        date: Option<DateSpec>,
        time: Option<TimeSpec>,
    },
    /// `in 2 hours`: minutes from now.
    InMinutes(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Minutes,
    Hours,
    Days,
    Weeks,
}

/// One recognised piece of a date phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lx {
    Today,
    Tomorrow,
    Yesterday,
    Next,
    This,
    At,
    In,
    Weekday(Weekday),
    Month(i8),
    /// A number and how many digits it was written with.
    Num(u32, usize),
    Date(Date),
    DayMonth(i8, i8),
    Slash(String),
    Time(Time),
    AmPm(bool),
    Unit(Unit),
    Bad(String),
}

pub(crate) const WEEKDAY_NAMES: &[(&str, Weekday)] = &[
    ("monday", Weekday::Monday),
    ("mon", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("tue", Weekday::Tuesday),
    ("tues", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("wed", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("thu", Weekday::Thursday),
    ("thur", Weekday::Thursday),
    ("thurs", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("fri", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sat", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
    ("sun", Weekday::Sunday),
];

const MONTH_NAMES: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `monday`, `Mon`, `mondays` (plural, as in "every mondays").
pub(crate) fn weekday(word: &str) -> Option<Weekday> {
    let w = word.to_lowercase();
    let w = w.trim_end_matches('.');
    let find = |s: &str| WEEKDAY_NAMES.iter().find(|(n, _)| *n == s).map(|(_, d)| *d);
    find(w).or_else(|| w.strip_suffix('s').and_then(find))
}

fn month(word: &str) -> Option<i8> {
    let w = word.trim_end_matches('.');
    if w.len() < 3 {
        return None;
    }
    let pos = MONTH_NAMES.iter().position(|m| {
        *m == w || (w.len() == 3 && m.starts_with(w)) || (w == "sept" && *m == "september")
    })?;
    i8::try_from(pos + 1).ok()
}

fn unit(word: &str) -> Option<Unit> {
    match word {
        "m" | "min" | "mins" | "minute" | "minutes" => Some(Unit::Minutes),
        "h" | "hr" | "hrs" | "hour" | "hours" => Some(Unit::Hours),
        "d" | "day" | "days" => Some(Unit::Days),
        "w" | "wk" | "wks" | "week" | "weeks" => Some(Unit::Weeks),
        _ => None,
    }
}

fn keyword(word: &str) -> Option<Vec<Lx>> {
    let lx = match word {
        "today" | "tonight" => Lx::Today,
        "tomorrow" | "tmrw" | "tmr" => Lx::Tomorrow,
        "yesterday" => Lx::Yesterday,
        "next" => Lx::Next,
        "this" | "coming" => Lx::This,
        "at" | "@" => Lx::At,
        "in" => Lx::In,
        "on" | "of" | "the" => return Some(Vec::new()),
        "a" | "an" => Lx::Num(1, 1),
        "noon" | "midday" => Lx::Time(Time::constant(12, 0, 0, 0)),
        "am" | "a.m." => Lx::AmPm(false),
        "pm" | "p.m." => Lx::AmPm(true),
        _ => return None,
    };
    Some(vec![lx])
}

/// The pieces of one word, or None when the word is not part of a date phrase.
fn lex_word(word: &str) -> Option<Vec<Lx>> {
    let w = word.to_lowercase();
    if let Some(lx) = keyword(&w) {
        return Some(lx);
    }
    if let Some(d) = weekday(&w) {
        return Some(vec![Lx::Weekday(d)]);
    }
    if let Some(m) = month(&w) {
        return Some(vec![Lx::Month(m)]);
    }
    if let Some(u) = unit(&w) {
        return Some(vec![Lx::Unit(u)]);
    }
    lex_numeric(&w)
}

/// Words that start with a digit: numbers, ordinals, dates, times, `2h`, `3pm`.
fn lex_numeric(w: &str) -> Option<Vec<Lx>> {
    if !w.starts_with(|c: char| c.is_ascii_digit()) || w.len() > 24 {
        return None;
    }
    if let Some(n) = number(w) {
        return Some(vec![n]);
    }
    if let Some(n) = ordinal(w) {
        return Some(vec![n]);
    }
    if let Some(lx) = iso(w) {
        return Some(lx);
    }
    if w.contains('/') {
        return slash(w).map(|s| vec![s]);
    }
    if let Some(t) = clock(w) {
        return Some(vec![t]);
    }
    if let Some(d) = dotted_date(w) {
        return Some(vec![d]);
    }
    with_suffix(w)
}

fn number(w: &str) -> Option<Lx> {
    if w.len() > 4 || !w.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    w.parse().ok().map(|n| Lx::Num(n, w.len()))
}

fn ordinal(w: &str) -> Option<Lx> {
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| w.strip_suffix(s))?;
    match number(digits)? {
        Lx::Num(n, len) if len <= 2 => Some(Lx::Num(n, len)),
        _ => None,
    }
}

/// `2026-12-03` or `2026-12-03T14:00[:00]`.
fn iso(w: &str) -> Option<Vec<Lx>> {
    let (day, time) = match w.split_once('t') {
        Some((d, t)) => (d, Some(t)),
        None => (w, None),
    };
    let parts: Vec<&str> = day.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 {
        return None;
    }
    let nums: Vec<u32> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let mut out = vec![date_or_bad(nums[0], nums[1], nums[2], w)];
    if let Some(t) = time {
        out.push(clock(t)?);
    }
    Some(out)
}

fn date_or_bad(year: u32, month: u32, day: u32, typed: &str) -> Lx {
    let made = (|| {
        let y = i16::try_from(year).ok()?;
        Date::new(y, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
    })();
    match made {
        Some(d) => Lx::Date(d),
        None => Lx::Bad(format!("{} is not a date", super::error::shown(typed))),
    }
}

/// `3/4`, `3/4/2027`, `3/4/27`: kept as typed for both readings.
fn slash(w: &str) -> Option<Lx> {
    let parts: Vec<&str> = w.split('/').collect();
    let ok = (2..=3).contains(&parts.len())
        && parts[..2].iter().all(|p| (1..=2).contains(&p.len()))
        && parts.get(2).is_none_or(|y| y.len() == 2 || y.len() == 4)
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| Lx::Slash(w.to_string()))
}

/// `14:30`, `9:05`, `14:30:00`, `11.30`.
fn clock(w: &str) -> Option<Lx> {
    let parts: Vec<&str> = w.split([':', '.']).collect();
    let colon = w.contains(':');
    let ok_len = if colon {
        (2..=3).contains(&parts.len())
    } else {
        parts.len() == 2
    };
    if !ok_len
        || !(1..=2).contains(&parts[0].len())
        || parts[1..].iter().any(|p| p.len() != 2)
        || (colon && w.contains('.'))
    {
        return None;
    }
    let nums: Vec<i8> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let second = nums.get(2).copied().unwrap_or(0);
    Some(match Time::new(nums[0], nums[1], second, 0) {
        Ok(t) => Lx::Time(t),
        Err(_) => Lx::Bad(format!("{} is not a time of day", super::error::shown(w))),
    })
}

/// `3.12.2026` or `3.12.` (day first, as written in German-speaking countries).
fn dotted_date(w: &str) -> Option<Lx> {
    let parts: Vec<&str> = w.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    if !(1..=2).contains(&parts[0].len()) || !(1..=2).contains(&parts[1].len()) {
        return None;
    }
    let day: u32 = parts[0].parse().ok()?;
    let month: u32 = parts[1].parse().ok()?;
    match parts[2].len() {
        0 => Some(day_month_or_bad(day, month, w)),
        4 => Some(date_or_bad(parts[2].parse().ok()?, month, day, w)),
        _ => None,
    }
}

fn day_month_or_bad(day: u32, month: u32, typed: &str) -> Lx {
    // 29 February is valid in a leap year.
    match (i8::try_from(day), i8::try_from(month)) {
        (Ok(d), Ok(m)) if Date::new(2028, m, d).is_ok() => Lx::DayMonth(d, m),
        _ => Lx::Bad(format!("{} is not a date", super::error::shown(typed))),
    }
}

/// `3pm`, `3:30pm`, `11.30am`, `2h`, `90min`.
fn with_suffix(w: &str) -> Option<Vec<Lx>> {
    let split = w.find(|c: char| c.is_ascii_alphabetic())?;
    let (head, tail) = w.split_at(split);
    if let Some(pm) = match tail {
        "am" | "a.m." => Some(false),
        "pm" | "p.m." => Some(true),
        _ => None,
    } {
        let first = number(head).or_else(|| clock(head))?;
        return Some(vec![first, Lx::AmPm(pm)]);
    }
    // "1h30": hours and minutes.
    if let Some(m) = tail.strip_prefix('h')
        && !m.is_empty()
        && m.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(vec![
            number(head)?,
            Lx::Unit(Unit::Hours),
            number(m)?,
            Lx::Unit(Unit::Minutes),
        ]);
    }
    Some(vec![number(head)?, Lx::Unit(unit(tail)?)])
}

fn lex_all(words: &[Word]) -> Option<Vec<Lx>> {
    let mut out = Vec::new();
    for w in words {
        if w.quoted {
            return None;
        }
        out.extend(lex_word(&w.text)?);
    }
    Some(out)
}

/// The words as a `<when>`, or None when they are not one.
pub(crate) fn parse_when(words: &[Word]) -> Option<When> {
    let lx = lex_all(words)?;
    if lx.is_empty() {
        return None;
    }
    if lx.first() == Some(&Lx::In) {
        return parse_in(&lx[1..]);
    }
    parse_at(lx)
}

/// A date alone (for `until`): the words as a `<when>` without a time.
pub(crate) fn parse_date(words: &[Word]) -> Option<DateSpec> {
    match parse_when(words)? {
        When::At {
            date: Some(d),
            time: None,
        } => Some(d),
        _ => None,
    }
}

/// `in 2 hours`, `in 90 minutes`, `in 1h30`, `in 3 days [at 10:00]`.
fn parse_in(lx: &[Lx]) -> Option<When> {
    let mut minutes: i64 = 0;
    let mut i = 0;
    while let (Some(Lx::Num(n, _)), Some(Lx::Unit(u))) = (lx.get(i), lx.get(i + 1)) {
        match u {
            Unit::Minutes => minutes += i64::from(*n),
            Unit::Hours => minutes += i64::from(*n) * 60,
            Unit::Days | Unit::Weeks if i == 0 => {
                let days = i32::try_from(*n).ok()? * if *u == Unit::Weeks { 7 } else { 1 };
                let time = parse_time_only(lx[2..].to_vec())?;
                return Some(When::At {
                    date: Some(DateSpec::InDays(days)),
                    time,
                });
            }
            Unit::Days | Unit::Weeks => return None,
        }
        i += 2;
    }
    (i > 0 && i == lx.len()).then_some(When::InMinutes(minutes))
}

/// The rest of `in 3 days …`: nothing, or a time.
fn parse_time_only(lx: Vec<Lx>) -> Option<Option<TimeSpec>> {
    if lx.is_empty() {
        return Some(None);
    }
    match parse_at(lx)? {
        When::At { date: None, time } => Some(time),
        _ => None,
    }
}

/// A date part and a time part, in either order.
fn parse_at(lx: Vec<Lx>) -> Option<When> {
    if let Some(Lx::Bad(why)) = lx.iter().find(|l| matches!(l, Lx::Bad(_))) {
        return Some(When::At {
            date: Some(DateSpec::Bad(why.clone())),
            time: None,
        });
    }
    let (rest, mut times) = take_times(lx)?;
    let (rest, bare) = trailing_hour(rest, times.is_empty());
    times.extend(bare);
    if times.len() > 1 {
        return None;
    }
    let date = date_of(&rest)?;
    let time = times.pop();
    if date.is_none() && time.is_none() {
        return None;
    }
    Some(When::At { date, time })
}

/// The times in the pieces (`14:30`, `3pm`, `3 pm`, `at 3`), and what is left.
fn take_times(lx: Vec<Lx>) -> Option<(Vec<Lx>, Vec<TimeSpec>)> {
    let mut rest = Vec::new();
    let mut times = Vec::new();
    let mut it = lx.into_iter().peekable();
    while let Some(l) = it.next() {
        let am_pm = match it.peek() {
            Some(Lx::AmPm(pm)) => Some(*pm),
            _ => None,
        };
        match (l, am_pm) {
            (Lx::Time(t), Some(pm)) => {
                it.next();
                times.push(TimeSpec::Exact(twelve_hour(t.hour(), t.minute(), pm)?));
            }
            (Lx::Num(n, len), Some(pm)) if len <= 2 => {
                it.next();
                times.push(TimeSpec::Exact(twelve_hour(i8::try_from(n).ok()?, 0, pm)?));
            }
            (Lx::Time(t), None) => times.push(TimeSpec::Exact(t)),
            (Lx::At, _) => match it.peek().cloned() {
                Some(Lx::Num(n, len)) if len <= 2 && n <= 23 && !followed_by_am_pm(&it) => {
                    let hour = i8::try_from(n).ok()?;
                    it.next();
                    times.push(bare_hour(hour)?);
                }
                _ => {}
            },
            (Lx::AmPm(_), _) => return None,
            (other, _) => rest.push(other),
        }
    }
    Some((rest, times))
}

fn followed_by_am_pm(it: &std::iter::Peekable<std::vec::IntoIter<Lx>>) -> bool {
    let mut look = it.clone();
    look.next();
    matches!(look.next(), Some(Lx::AmPm(_)))
}

/// `at 3` is asked back (03:00 or 15:00); `at 15` and `at 0` are not ambiguous.
fn bare_hour(hour: i8) -> Option<TimeSpec> {
    if (1..=12).contains(&hour) {
        Some(TimeSpec::BareHour(hour))
    } else {
        Time::new(hour, 0, 0, 0).ok().map(TimeSpec::Exact)
    }
}

fn twelve_hour(hour: i8, minute: i8, pm: bool) -> Option<Time> {
    if !(1..=12).contains(&hour) {
        return None;
    }
    let h = match (hour, pm) {
        (12, false) => 0,
        (12, true) => 12,
        (h, false) => h,
        (h, true) => h + 12,
    };
    Time::new(h, minute, 0, 0).ok()
}

/// `tomorrow 11`, `friday 3`: a bare hour after a day that takes no number.
fn trailing_hour(mut rest: Vec<Lx>, no_time: bool) -> (Vec<Lx>, Option<TimeSpec>) {
    let n = rest.len();
    if !no_time || n < 2 {
        return (rest, None);
    }
    let day_word = matches!(
        rest[n - 2],
        Lx::Today
            | Lx::Tomorrow
            | Lx::Yesterday
            | Lx::Weekday(_)
            | Lx::Date(_)
            | Lx::Slash(_)
            | Lx::DayMonth(..)
    );
    match rest[n - 1] {
        Lx::Num(h, len) if day_word && len <= 2 && h <= 23 => {
            rest.pop();
            (rest, i8::try_from(h).ok().and_then(bare_hour))
        }
        _ => (rest, None),
    }
}

/// The date part: Some(None) when there is none, None when the pieces are not a date.
fn date_of(lx: &[Lx]) -> Option<Option<DateSpec>> {
    let lx: Vec<&Lx> = lx.iter().filter(|l| **l != Lx::At).collect();
    // "Thu 3 Dec 2026": a weekday in front of a full date must match it.
    if let [Lx::Weekday(w), rest @ ..] = lx.as_slice()
        && !rest.is_empty()
    {
        let owned: Vec<Lx> = rest.iter().map(|l| (*l).clone()).collect();
        let inner = date_of(&owned)??;
        return Some(Some(check_weekday(*w, inner)));
    }
    let spec = match lx.as_slice() {
        [] => return Some(None),
        [Lx::Today] => DateSpec::Today,
        [Lx::Tomorrow] => DateSpec::Tomorrow,
        [Lx::Yesterday] => DateSpec::InDays(-1),
        [Lx::Weekday(w)] | [Lx::This, Lx::Weekday(w)] => DateSpec::Weekday(*w),
        [Lx::Next, Lx::Weekday(w)] => DateSpec::NextWeekday(*w),
        [Lx::Date(d)] => DateSpec::Absolute(*d),
        [Lx::Slash(s)] => DateSpec::Slash(s.clone()),
        [Lx::DayMonth(d, m)] => DateSpec::DayMonth { day: *d, month: *m },
        [Lx::Num(d, dl), Lx::Month(m)] | [Lx::Month(m), Lx::Num(d, dl)] if *dl <= 2 => {
            day_month(*d, *m)
        }
        [Lx::Num(d, dl), Lx::Month(m), Lx::Num(y, 4)]
        | [Lx::Month(m), Lx::Num(d, dl), Lx::Num(y, 4)]
            if *dl <= 2 =>
        {
            full_date(*y, *m, *d)
        }
        _ => return None,
    };
    Some(Some(spec))
}

fn day_month(day: u32, month: i8) -> DateSpec {
    match day_month_or_bad(day, u32::try_from(month).unwrap_or(0), "") {
        Lx::DayMonth(d, m) => DateSpec::DayMonth { day: d, month: m },
        _ => DateSpec::Bad(format!(
            "{} has no day {day}",
            MONTH_NAMES
                .get(usize::try_from(month - 1).unwrap_or(0))
                .map(|m| capitalised(m))
                .unwrap_or_default()
        )),
    }
}

fn full_date(year: u32, month: i8, day: u32) -> DateSpec {
    match date_or_bad(year, u32::try_from(month).unwrap_or(0), day, "") {
        Lx::Date(d) => DateSpec::Absolute(d),
        _ => DateSpec::Bad(format!(
            "{day} {} {year} is not a date",
            MONTH_NAMES
                .get(usize::try_from(month - 1).unwrap_or(0))
                .map(|m| capitalised(m))
                .unwrap_or_default()
        )),
    }
}

fn check_weekday(w: Weekday, inner: DateSpec) -> DateSpec {
    match inner {
        DateSpec::Absolute(d) if d.weekday() != w => DateSpec::Bad(format!(
            "{} is a {}, not a {}",
            d.strftime("%-d %b %Y"),
            d.strftime("%A"),
            weekday_name(w)
        )),
        other => other,
    }
}

pub(crate) fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn when(s: &str) -> Option<When> {
        parse_when(&super::super::lex::words(s))
    }

    fn at(date: Option<DateSpec>, h: i8, m: i8) -> Option<When> {
        Some(When::At {
            date,
            time: Some(TimeSpec::Exact(Time::constant(h, m, 0, 0))),
        })
    }

    #[test]
    fn common_forms() {
        assert_eq!(when("tomorrow 11:00"), at(Some(DateSpec::Tomorrow), 11, 0));
        assert_eq!(
            when("tomorrow at 11:00"),
            at(Some(DateSpec::Tomorrow), 11, 0)
        );
        assert_eq!(
            when("next friday 3pm"),
            at(Some(DateSpec::NextWeekday(Weekday::Friday)), 15, 0)
        );
        assert_eq!(
            when("friday 3 pm"),
            at(Some(DateSpec::Weekday(Weekday::Friday)), 15, 0)
        );
        assert_eq!(
            when("2026-12-03 14:00"),
            at(Some(DateSpec::Absolute(date(2026, 12, 3))), 14, 0)
        );
        assert_eq!(
            when("2026-12-03T14:00"),
            at(Some(DateSpec::Absolute(date(2026, 12, 3))), 14, 0)
        );
        assert_eq!(
            when("14:30 on 3 Dec"),
            at(Some(DateSpec::DayMonth { day: 3, month: 12 }), 14, 30)
        );
        assert_eq!(
            when("3rd of December at 2:30pm"),
            at(Some(DateSpec::DayMonth { day: 3, month: 12 }), 14, 30)
        );
        assert_eq!(
            when("Thu 3 Dec 2026 11.30"),
            at(Some(DateSpec::Absolute(date(2026, 12, 3))), 11, 30)
        );
        assert_eq!(
            when("3.12.2026 9:00"),
            at(Some(DateSpec::Absolute(date(2026, 12, 3))), 9, 0)
        );
        assert_eq!(when("noon"), at(None, 12, 0));
        assert_eq!(when("12am tomorrow"), at(Some(DateSpec::Tomorrow), 0, 0));
    }

    #[test]
    fn relative() {
        assert_eq!(when("in 2 hours"), Some(When::InMinutes(120)));
        assert_eq!(when("in 1h30"), Some(When::InMinutes(90)));
        assert_eq!(when("in an hour"), Some(When::InMinutes(60)));
        assert_eq!(when("in 1 hour 15 minutes"), Some(When::InMinutes(75)));
        assert_eq!(
            when("in 3 days at 10:00"),
            at(Some(DateSpec::InDays(3)), 10, 0)
        );
        assert_eq!(
            when("in 2 weeks 10:00"),
            at(Some(DateSpec::InDays(14)), 10, 0)
        );
        assert_eq!(when("in 2"), None);
    }

    #[test]
    fn bare_hours() {
        let bare = |h| Some(TimeSpec::BareHour(h));
        assert_eq!(
            when("tomorrow at 3"),
            Some(When::At {
                date: Some(DateSpec::Tomorrow),
                time: bare(3)
            })
        );
        assert_eq!(
            when("friday 11"),
            Some(When::At {
                date: Some(DateSpec::Weekday(Weekday::Friday)),
                time: bare(11)
            })
        );
        assert_eq!(when("tomorrow at 15"), at(Some(DateSpec::Tomorrow), 15, 0));
        // In "dec 3" the number is the day.
        assert_eq!(
            when("dec 3"),
            Some(When::At {
                date: Some(DateSpec::DayMonth { day: 3, month: 12 }),
                time: None
            })
        );
    }

    #[test]
    fn not_a_date() {
        for s in [
            "Linear Algebra tomorrow 11:00",
            "3 tomorrow 11:00",
            "sync",
            "12 tomorrow",
            "11:00 12:00",
            "“tomorrow” 11:00",
            "next 11:00",
            "pm",
        ] {
            assert_eq!(when(s), None, "{s}");
        }
    }

    #[test]
    fn bad_dates_are_recognised_with_a_reason() {
        for (s, why) in [
            ("31 February 10:00", "February has no day 31"),
            ("2027-02-30 10:00", "not a date"),
            ("tomorrow 25:00", "not a time"),
            ("Fri 3 Dec 2026 10:00", "is a Thursday, not a Friday"),
        ] {
            match when(s) {
                Some(When::At {
                    date: Some(DateSpec::Bad(m)),
                    ..
                }) => assert!(m.contains(why), "{s}: {m}"),
                other => panic!("{s}: {other:?}"),
            }
        }
    }
}
