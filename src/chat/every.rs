//! `every <rule> [until <date>]`: a recurrence in words, turned into the RFC 5545 RRULE that
//! `Recurrence` accepts. Only days are picked by the rule; every meeting of the series is at
//! the time of day of the first one, in the meeting's zone (so 10:00 stays 10:00 local across
//! a DST change).

use super::error::{Fail, shown};
use super::lex::{Word, join};
use super::when::{self, DateSpec, TimeSpec, When, weekday_name};
use jiff::civil::{Date, Weekday};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// A parsed `every` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub freq: Freq,
    pub interval: u32,
    /// The weekdays of a weekly rule, Monday first; empty: the weekday of the first meeting.
    pub days: Vec<Weekday>,
    /// A time given inside the clause (`every monday 10:00`).
    pub time: Option<TimeSpec>,
    pub until: Option<DateSpec>,
}

const WORKDAYS: [Weekday; 5] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
];

fn example() -> &'static str {
    "e.g. `every monday 10:00`, `every weekday 9:30`, `every 2 weeks on tuesday`, \
     `every day`, `every month`"
}

impl Rule {
    /// Whether a series may have a meeting on `d` (rules with named weekdays).
    pub fn fits(&self, d: Date) -> bool {
        self.days.is_empty() || self.days.contains(&d.weekday())
    }

    /// Rules that take their day from the first meeting need that day typed.
    pub fn needs_day(&self) -> bool {
        match self.freq {
            Freq::Daily => false,
            Freq::Weekly => self.days.is_empty(),
            Freq::Monthly | Freq::Yearly => true,
        }
    }

    pub fn missing_day(&self) -> Fail {
        Fail::new(format!(
            "On which day does {} start? Add it, e.g. `2027-01-11 10:00 every {}`, or name \
             the weekday: `every monday 10:00`.",
            self.describe(),
            self.unit_word()
        ))
    }

    fn unit_word(&self) -> &'static str {
        match self.freq {
            Freq::Daily => "day",
            Freq::Weekly => "week",
            Freq::Monthly => "month",
            Freq::Yearly => "year",
        }
    }

    /// The RRULE, `UNTIL` as a day (inclusive, in the meeting's zone).
    pub fn rrule(&self, until: Option<Date>) -> String {
        let freq = match self.freq {
            Freq::Daily => "DAILY",
            Freq::Weekly => "WEEKLY",
            Freq::Monthly => "MONTHLY",
            Freq::Yearly => "YEARLY",
        };
        let mut out = format!("FREQ={freq}");
        if self.interval > 1 {
            out.push_str(&format!(";INTERVAL={}", self.interval));
        }
        if !self.days.is_empty() {
            let codes: Vec<&str> = self.days.iter().map(|d| day_code(*d)).collect();
            out.push_str(&format!(";BYDAY={}", codes.join(",")));
        }
        if let Some(u) = until {
            out.push_str(&format!(";UNTIL={}", u.strftime("%Y%m%d")));
        }
        out
    }

    /// "every Monday", "every 2 weeks on Tuesday", "every weekday".
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.days.iter().map(|d| weekday_name(*d)).collect();
        let days = list(&names);
        match (self.freq, self.interval, self.days.as_slice()) {
            (Freq::Weekly, 1, d) if d == WORKDAYS => "every weekday (Monday to Friday)".into(),
            (Freq::Weekly, 1, [_, ..]) => format!("every {days}"),
            (Freq::Weekly, n, [_, ..]) => format!("every {n} weeks on {days}"),
            (_, 1, _) => format!("every {}", self.unit_word()),
            (_, n, _) => format!("every {n} {}s", self.unit_word()),
        }
    }
}

fn list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn day_code(d: Weekday) -> &'static str {
    match d {
        Weekday::Monday => "MO",
        Weekday::Tuesday => "TU",
        Weekday::Wednesday => "WE",
        Weekday::Thursday => "TH",
        Weekday::Friday => "FR",
        Weekday::Saturday => "SA",
        Weekday::Sunday => "SU",
    }
}

/// The words after `every`.
pub(crate) fn parse_every(words: &[Word]) -> Result<Rule, Fail> {
    let (main, until) = match words.iter().position(|w| w.is("until")) {
        Some(i) => (&words[..i], Some(until_date(&words[i + 1..])?)),
        None => (words, None),
    };
    if main.is_empty() {
        return Err(Fail::new(format!("Every what? {}.", example())));
    }
    let (interval, rest) = interval(main)?;
    let (freq, days, rest) = unit(rest, interval).ok_or_else(|| not_a_rule(main))?;
    let time = time_of(rest).ok_or_else(|| not_a_rule(main))?;
    Ok(Rule {
        freq,
        interval,
        days,
        time,
        until,
    })
}

fn not_a_rule(words: &[Word]) -> Fail {
    Fail::new(format!(
        "I don't understand the rule “every {}”; {}.",
        join(words),
        example()
    ))
}

fn until_date(words: &[Word]) -> Result<DateSpec, Fail> {
    when::parse_date(words).ok_or_else(|| {
        Fail::new(format!(
            "`until` needs a day, e.g. `until 2027-02-01` or `until 1 February`, not {}.",
            shown(&join(words))
        ))
    })
}

/// `2 weeks`, `other week`: the interval and the rest.
fn interval(words: &[Word]) -> Result<(u32, &[Word]), Fail> {
    let Some(first) = words.first() else {
        return Ok((1, words));
    };
    if first.is_any(&["other", "second"]) {
        return Ok((2, &words[1..]));
    }
    match first.text.parse::<u32>() {
        Ok(n) if (1..=99).contains(&n) => Ok((n, &words[1..])),
        Ok(_) => Err(Fail::new(
            "Give an interval from 1 to 99, e.g. `every 2 weeks`.",
        )),
        Err(_) => Ok((1, words)),
    }
}

type Unit<'w> = (Freq, Vec<Weekday>, &'w [Word]);

/// `day`, `weekday`, `week [on <days>]`, `month`, `year`, or a list of weekdays.
fn unit(words: &[Word], interval: u32) -> Option<Unit<'_>> {
    let first = words.first()?;
    let rest = &words[1..];
    let one = |freq| Some((freq, Vec::new(), rest));
    match first.lower().as_str() {
        "day" | "days" => one(Freq::Daily),
        "month" | "months" => one(Freq::Monthly),
        "year" | "years" => one(Freq::Yearly),
        "weekday" | "weekdays" | "workday" | "workdays" if interval == 1 => {
            Some((Freq::Weekly, WORKDAYS.to_vec(), rest))
        }
        "week" | "weeks" => match rest.first() {
            Some(w) if w.is("on") => {
                let (days, rest) = weekdays(&rest[1..])?;
                Some((Freq::Weekly, days, rest))
            }
            _ => one(Freq::Weekly),
        },
        _ => {
            let (days, rest) = weekdays(words)?;
            Some((Freq::Weekly, days, rest))
        }
    }
}

/// `monday`, `monday and thursday`, `mon, wed & fri`: the days (in week order) and the rest.
fn weekdays(words: &[Word]) -> Option<(Vec<Weekday>, &[Word])> {
    let mut days = Vec::new();
    let mut i = 0;
    while let Some(w) = words.get(i) {
        if let Some(d) = when::weekday(&w.text).filter(|_| !w.quoted) {
            days.push(d);
        } else if !w.is_any(&["and", "&"]) || days.is_empty() {
            break;
        }
        i += 1;
    }
    if days.is_empty() {
        return None;
    }
    days.sort_by_key(|d| d.to_monday_zero_offset());
    days.dedup();
    Some((days, &words[i..]))
}

/// What follows the days: nothing or a time of day (`10:00`, `at 9am`).
fn time_of(words: &[Word]) -> Option<Option<TimeSpec>> {
    if words.is_empty() {
        return Some(None);
    }
    match when::parse_when(words)? {
        When::At { date: None, time } => Some(time),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::lex::words;
    use crate::domain::meeting::Recurrence;

    fn rule(s: &str) -> Rule {
        parse_every(&words(s)).unwrap()
    }

    fn rrule(s: &str) -> String {
        let r = rule(s);
        let text = r.rrule(None);
        text.parse::<Recurrence>().expect("valid RRULE");
        text
    }

    #[test]
    fn phrases_to_rrules() {
        assert_eq!(rrule("monday"), "FREQ=WEEKLY;BYDAY=MO");
        assert_eq!(rrule("mondays 10:00"), "FREQ=WEEKLY;BYDAY=MO");
        assert_eq!(rrule("day"), "FREQ=DAILY");
        assert_eq!(rrule("weekday at 9:30"), "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR");
        assert_eq!(
            rrule("2 weeks on tuesday"),
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"
        );
        assert_eq!(rrule("other week"), "FREQ=WEEKLY;INTERVAL=2");
        assert_eq!(rrule("thursday and mon"), "FREQ=WEEKLY;BYDAY=MO,TH");
        assert_eq!(rrule("month"), "FREQ=MONTHLY");
        assert_eq!(rrule("3 days"), "FREQ=DAILY;INTERVAL=3");
        assert_eq!(
            rule("monday").rrule(Some(jiff::civil::date(2027, 2, 1))),
            "FREQ=WEEKLY;BYDAY=MO;UNTIL=20270201"
        );
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            rule("monday and friday").describe(),
            "every Monday and Friday"
        );
        assert_eq!(
            rule("weekdays").describe(),
            "every weekday (Monday to Friday)"
        );
        assert_eq!(
            rule("2 weeks on tue").describe(),
            "every 2 weeks on Tuesday"
        );
        assert_eq!(rule("day").describe(), "every day");
        assert_eq!(rule("3 months").describe(), "every 3 months");
    }

    #[test]
    fn time_and_until() {
        let r = rule("monday 10:00 until 2027-02-01");
        assert!(matches!(r.time, Some(TimeSpec::Exact(_))));
        assert_eq!(
            r.until,
            Some(DateSpec::Absolute(jiff::civil::date(2027, 2, 1)))
        );
    }

    #[test]
    fn refusals() {
        for (s, why) in [
            ("", "Every what?"),
            ("fortnight", "don't understand"),
            ("monday until", "`until` needs a day"),
            ("monday until soon", "`until` needs a day"),
            ("100 days", "1 to 99"),
            ("monday tomorrow", "don't understand"),
        ] {
            let e = parse_every(&words(s)).unwrap_err();
            assert!(e.message.contains(why), "{s}: {}", e.message);
        }
    }
}
