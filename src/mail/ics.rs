//! RFC 5545 calendar parts for invitations (`METHOD:REQUEST`) and cancellations
//! (`METHOD:CANCEL`), written by hand: the few properties we need, CRLF line ends, lines folded
//! at 75 octets, TEXT values escaped, and a `VTIMEZONE` built from jiff's transitions (no
//! calendar crate generates one).
//!
//! Identity: the `UID` is `<meeting id>@<organizer's domain>` and stays the same for every
//! mail about the meeting, so a moved meeting updates the event the recipient already has
//! (with a higher `SEQUENCE`) instead of adding a second one. One occurrence of a series is
//! addressed with the same UID plus `RECURRENCE-ID` (its nominal start).
//!
//! Times: `DTSTART`/`DTEND` carry `TZID=<IANA name>` of the meeting's zone (its `timeZone`;
//! a meeting without one is taken in the machine's zone, so callers that know the app's
//! `defaults.timeZone` fill `timeZone` in before calling). A zone without an IANA name is
//! written in UTC. The `VTIMEZONE` covers the years the event or series spans (an endless
//! series: the first few years, with open yearly rules that continue the zone's current DST
//! rule).
//!
//! Length of the event: `endAfterMinutes`, else BBB's `duration`, else one hour.

use super::{CalendarMethod, CalendarPart, Mailbox};
use crate::domain::MeetingSpec;
use crate::domain::meeting::ExDate;
use crate::domain::meeting::recurrence::{ByDay, Frequency, Recurrence, SeriesEnd, Until};
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, Zoned};

/// Why no calendar part could be made. The texts name the meeting and hold no secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcsError {
    #[error("meeting '{0}' has no startDate, so there is no event to put in a calendar")]
    NoStart(String),
    #[error("meeting '{meeting}': unknown time zone {zone:?}")]
    UnknownZone { meeting: String, zone: String },
    #[error(
        "meeting '{meeting}': occurrence {occurrence:?} is not a start time like 2026-12-01T10:00"
    )]
    BadOccurrence { meeting: String, occurrence: String },
    #[error("meeting '{meeting}': {what} is outside the range of dates a calendar can hold")]
    OutOfRange { meeting: String, what: &'static str },
}

/// The event's length when the meeting sets neither `endAfterMinutes` nor `duration`.
pub const DEFAULT_MINUTES: u32 = 60;

/// How many years after its start an endless series' `VTIMEZONE` lists explicitly.
const OPEN_SERIES_YEARS: i16 = 5;

/// `PRODID` of every calendar we write.
const PRODID: &str = concat!(
    "-//schedulight//schedulight ",
    env!("CARGO_PKG_VERSION"),
    "//EN"
);

/// The invitation to `meeting` (the whole series, or one `occurrence` of it by its key
/// `2026-12-01T10:00`) for `attendee`, `METHOD:REQUEST`.
pub fn invitation(
    meeting: &MeetingSpec,
    occurrence: Option<&str>,
    sequence: u32,
    organizer: &Mailbox,
    attendee: &Mailbox,
    url: Option<&str>,
    now: Timestamp,
) -> Result<CalendarPart, IcsError> {
    let parts = Parts {
        meeting,
        occurrence,
        sequence,
        organizer,
        attendee,
        url,
        now,
    };
    calendar(CalendarMethod::Request, &parts)
}

/// The cancellation of `meeting` (or of one `occurrence`), `METHOD:CANCEL` with
/// `STATUS:CANCELLED`. Pass a `sequence` above the last invitation's so calendars apply it.
pub fn cancellation(
    meeting: &MeetingSpec,
    occurrence: Option<&str>,
    sequence: u32,
    organizer: &Mailbox,
    attendee: &Mailbox,
    url: Option<&str>,
    now: Timestamp,
) -> Result<CalendarPart, IcsError> {
    let parts = Parts {
        meeting,
        occurrence,
        sequence,
        organizer,
        attendee,
        url,
        now,
    };
    calendar(CalendarMethod::Cancel, &parts)
}

struct Parts<'a> {
    meeting: &'a MeetingSpec,
    occurrence: Option<&'a str>,
    sequence: u32,
    organizer: &'a Mailbox,
    attendee: &'a Mailbox,
    url: Option<&'a str>,
    now: Timestamp,
}

/// The event's times, resolved in the meeting's zone.
struct Event {
    zone: Zone,
    /// `DTSTART`: the nominal local start (a time in a DST gap is left to the client, which
    /// moves it forward as RFC 5545 says, like our scheduler does).
    start: DateTime,
    /// The real end (start + length), in the zone's wall-clock time.
    end: DateTime,
    recurrence_id: Option<DateTime>,
    rrule: Option<String>,
    exdates: Vec<DateTime>,
    /// First instant and last instant (None: endless) the VTIMEZONE must cover.
    span: (Timestamp, Option<Timestamp>),
}

/// The meeting's zone and how times in it are written.
struct Zone {
    tz: TimeZone,
    /// The IANA name for `TZID`; None: write UTC times.
    tzid: Option<String>,
}

impl Zone {
    /// `;TZID=Europe/Vienna:20261201T100000`, or `:20261201T090000Z` without a name.
    fn value(&self, local: DateTime) -> String {
        match &self.tzid {
            Some(id) => format!(";TZID={}:{}", param_value(id), local_stamp(local)),
            None => match local.to_zoned(self.tz.clone()) {
                Ok(z) => format!(":{}", utc_stamp(z.timestamp())),
                Err(_) => format!(":{}", local_stamp(local)),
            },
        }
    }
}

fn calendar(method: CalendarMethod, p: &Parts<'_>) -> Result<CalendarPart, IcsError> {
    let event = resolve(p.meeting, p.occurrence)?;
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        format!("PRODID:{PRODID}"),
        "VERSION:2.0".to_string(),
        "CALSCALE:GREGORIAN".to_string(),
        format!("METHOD:{}", method.as_str()),
    ];
    if let Some(tzid) = &event.zone.tzid {
        lines.extend(vtimezone(&event.zone.tz, tzid, event.span.0, event.span.1));
    }
    lines.extend(vevent(method, p, &event));
    lines.push("END:VCALENDAR".to_string());
    let mut ics = String::new();
    for line in &lines {
        ics.push_str(&fold(line));
        ics.push_str("\r\n");
    }
    Ok(CalendarPart { method, ics })
}

fn vevent(method: CalendarMethod, p: &Parts<'_>, e: &Event) -> Vec<String> {
    let mut out = vec![
        "BEGIN:VEVENT".to_string(),
        format!("UID:{}", escape_text(&uid(p.meeting, p.organizer))),
        format!("DTSTAMP:{}", utc_stamp(p.now)),
        format!("SEQUENCE:{}", p.sequence),
    ];
    if let Some(rid) = e.recurrence_id {
        out.push(format!("RECURRENCE-ID{}", e.zone.value(rid)));
    }
    out.push(format!("DTSTART{}", e.zone.value(e.start)));
    out.push(format!("DTEND{}", e.zone.value(e.end)));
    if let Some(rule) = &e.rrule {
        out.push(format!("RRULE:{rule}"));
    }
    for ex in &e.exdates {
        out.push(format!("EXDATE{}", e.zone.value(*ex)));
    }
    out.push(format!("SUMMARY:{}", escape_text(&p.meeting.name)));
    if let Some(url) = p.url {
        out.push(format!("DESCRIPTION:{}", escape_text(url)));
        out.push(format!("LOCATION:{}", escape_text(url)));
        out.push(format!("URL:{}", url_value(url)));
    }
    out.push(format!(
        "ORGANIZER{}:mailto:{}",
        cn(p.organizer),
        p.organizer.email.as_str()
    ));
    out.push(format!(
        "ATTENDEE{};CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=FALSE:mailto:{}",
        cn(p.attendee),
        p.attendee.email.as_str()
    ));
    let status = match method {
        CalendarMethod::Request => "CONFIRMED",
        CalendarMethod::Cancel => "CANCELLED",
    };
    out.push(format!("STATUS:{status}"));
    out.push("TRANSP:OPAQUE".to_string());
    out.push("END:VEVENT".to_string());
    out
}

/// `<meeting id>@<organizer's domain>`: the same for every mail about this meeting.
pub fn uid(meeting: &MeetingSpec, organizer: &Mailbox) -> String {
    let domain = organizer
        .email
        .as_str()
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("schedulight.invalid");
    format!("{}@{}", meeting.id.as_str(), domain)
}

/// `;CN="Name"` (quotes and control characters replaced: a parameter value cannot hold them).
fn cn(m: &Mailbox) -> String {
    match m.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!(";CN={}", quoted(name)),
        None => String::new(),
    }
}

fn quoted(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| match c {
            '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("\"{clean}\"")
}

/// A parameter value, quoted when it holds `;`, `:` or `,`.
fn param_value(s: &str) -> String {
    if s.contains([';', ':', ',']) || s.chars().any(char::is_control) {
        quoted(s)
    } else {
        s.to_string()
    }
}

/// A URI value: not escaped as TEXT, but line breaks cannot be part of it.
fn url_value(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// RFC 5545 §3.3.11 TEXT: `\` `;` `,` escaped, line breaks as `\n`, other control
/// characters dropped (they are not allowed in a content line).
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// RFC 5545 §3.1: a line longer than 75 octets is split, each continuation starting with one
/// space; a UTF-8 character is never split. Returns the folded line without the final CRLF.
pub fn fold(line: &str) -> String {
    const LIMIT: usize = 75;
    let mut out = String::with_capacity(line.len() + line.len() / LIMIT * 3);
    let mut used = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if used + n > LIMIT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += n;
    }
    out
}

// ------------------------------------------------------------------ the event's times

fn resolve(meeting: &MeetingSpec, occurrence: Option<&str>) -> Result<Event, IcsError> {
    let id = meeting.id.as_str();
    let first = meeting
        .start
        .ok_or_else(|| IcsError::NoStart(id.to_string()))?;
    let zone = zone_of(meeting)?;
    let length = SignedDuration::from_mins(i64::from(length_minutes(meeting)));
    let series = meeting.recurrence.as_ref();
    let one = match (series, occurrence) {
        (Some(_), Some(key)) => Some(occurrence_start(meeting, key)?),
        _ => None,
    };
    let start = one.unwrap_or(first);
    let start_zoned = zoned(meeting, &zone.tz, start, "the start")?;
    let end_zoned = start_zoned
        .checked_add(length)
        .map_err(|_| out_of_range(meeting, "the end"))?;
    let span_end = match (series, one) {
        (Some(rule), None) => series_end(meeting, rule, &zone.tz, &start_zoned, length)?,
        _ => Some(end_zoned.timestamp()),
    };
    let (rrule, exdates) = match (series, one) {
        (Some(rule), None) => (Some(rrule(rule, &zone.tz)), exdates(meeting, first)),
        _ => (None, Vec::new()),
    };
    Ok(Event {
        start,
        end: end_zoned.datetime(),
        recurrence_id: one,
        rrule,
        exdates,
        span: (start_zoned.timestamp(), span_end),
        zone,
    })
}

/// The meeting's `timeZone`, else the machine's (see the module docs).
fn zone_of(meeting: &MeetingSpec) -> Result<Zone, IcsError> {
    let tz = match &meeting.time_zone {
        Some(name) => TimeZone::get(name).map_err(|_| IcsError::UnknownZone {
            meeting: meeting.id.to_string(),
            zone: name.clone(),
        })?,
        None => TimeZone::system(),
    };
    let tzid = tz.iana_name().map(str::to_string);
    Ok(Zone { tz, tzid })
}

fn length_minutes(meeting: &MeetingSpec) -> u32 {
    [meeting.end_after_minutes, meeting.duration]
        .into_iter()
        .flatten()
        .find(|m| *m > 0)
        .unwrap_or(DEFAULT_MINUTES)
}

/// An occurrence key (`2026-12-01T10:00`, the scheduler's) as a local date and time.
fn occurrence_start(meeting: &MeetingSpec, key: &str) -> Result<DateTime, IcsError> {
    let bad = || IcsError::BadOccurrence {
        meeting: meeting.id.to_string(),
        occurrence: key.to_string(),
    };
    let t = key.trim();
    DateTime::strptime("%Y-%m-%dT%H:%M", t)
        .or_else(|_| DateTime::strptime("%Y-%m-%dT%H:%M:%S", t))
        .map_err(|_| bad())
}

fn zoned(
    meeting: &MeetingSpec,
    tz: &TimeZone,
    at: DateTime,
    what: &'static str,
) -> Result<Zoned, IcsError> {
    at.to_zoned(tz.clone())
        .map_err(|_| out_of_range(meeting, what))
}

fn out_of_range(meeting: &MeetingSpec, what: &'static str) -> IcsError {
    IcsError::OutOfRange {
        meeting: meeting.id.to_string(),
        what,
    }
}

/// When the last occurrence of a series ends; None for an endless series.
fn series_end(
    meeting: &MeetingSpec,
    rule: &Recurrence,
    tz: &TimeZone,
    first: &Zoned,
    length: SignedDuration,
) -> Result<Option<Timestamp>, IcsError> {
    let last_start = match rule.end() {
        SeriesEnd::Never => return Ok(None),
        SeriesEnd::Until(Until::Utc(t)) => t,
        SeriesEnd::Until(Until::Local(dt)) => zoned(meeting, tz, dt, "UNTIL")?.timestamp(),
        SeriesEnd::Until(Until::Date(d)) => end_of_day(meeting, tz, d)?,
        SeriesEnd::Count(n) => {
            let limit = usize::try_from(n).unwrap_or(usize::MAX);
            crate::scheduler::plan::occurrences(meeting, tz, first.timestamp(), limit)
                .ok()
                .and_then(|all| all.last().map(|o| o.start.timestamp()))
                .unwrap_or(first.timestamp())
        }
    };
    Ok(last_start.checked_add(length).ok())
}

/// The last second of `day` in `tz` (UNTIL=<date> includes the whole day).
fn end_of_day(meeting: &MeetingSpec, tz: &TimeZone, day: Date) -> Result<Timestamp, IcsError> {
    let next = day.tomorrow().map_err(|_| out_of_range(meeting, "UNTIL"))?;
    let midnight = zoned(meeting, tz, next.to_datetime(Time::midnight()), "UNTIL")?;
    midnight
        .timestamp()
        .checked_sub(SignedDuration::from_secs(1))
        .map_err(|_| out_of_range(meeting, "UNTIL"))
}

/// The rule in canonical spelling (the stored text may be lower-case or carry `RRULE:`).
/// `UNTIL` is written in UTC, as RFC 5545 requires with a `TZID` start.
fn rrule(rule: &Recurrence, tz: &TimeZone) -> String {
    let mut parts = vec![format!("FREQ={}", rule.freq().as_str())];
    if rule.interval() > 1 {
        parts.push(format!("INTERVAL={}", rule.interval()));
    }
    match rule.end() {
        SeriesEnd::Never => {}
        SeriesEnd::Count(n) => parts.push(format!("COUNT={n}")),
        SeriesEnd::Until(u) => {
            if let Some(t) = until_instant(u, tz) {
                parts.push(format!("UNTIL={}", utc_stamp(t)));
            }
        }
    }
    if !rule.by_month().is_empty() {
        parts.push(format!("BYMONTH={}", join_numbers(rule.by_month())));
    }
    if !rule.by_month_day().is_empty() {
        parts.push(format!("BYMONTHDAY={}", join_numbers(rule.by_month_day())));
    }
    if !rule.by_day().is_empty() {
        let days: Vec<String> = rule.by_day().iter().map(by_day).collect();
        parts.push(format!("BYDAY={}", days.join(",")));
    }
    if rule.week_start() != Weekday::Monday || rule.freq() == Frequency::Weekly {
        parts.push(format!("WKST={}", weekday_code(rule.week_start())));
    }
    parts.join(";")
}

fn until_instant(u: Until, tz: &TimeZone) -> Option<Timestamp> {
    match u {
        Until::Utc(t) => Some(t),
        Until::Local(dt) => dt.to_zoned(tz.clone()).ok().map(|z| z.timestamp()),
        Until::Date(d) => {
            let midnight = d.tomorrow().ok()?.to_zoned(tz.clone()).ok()?;
            midnight
                .timestamp()
                .checked_sub(SignedDuration::from_secs(1))
                .ok()
        }
    }
}

fn join_numbers(ns: &[i8]) -> String {
    ns.iter().map(i8::to_string).collect::<Vec<_>>().join(",")
}

fn by_day(d: &ByDay) -> String {
    match d.nth {
        Some(n) => format!("{n}{}", weekday_code(d.weekday)),
        None => weekday_code(d.weekday).to_string(),
    }
}

fn weekday_code(d: Weekday) -> &'static str {
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

/// The skipped occurrences as local start times (a skipped day: the series' time of day on
/// it). Days before the start name no occurrence and are left out.
fn exdates(meeting: &MeetingSpec, first: DateTime) -> Vec<DateTime> {
    let mut out: Vec<DateTime> = meeting
        .exdate
        .iter()
        .map(|e| match *e {
            ExDate::Day(d) => d.to_datetime(first.time()),
            ExDate::At(dt) => dt,
        })
        .filter(|at| *at >= first)
        .collect();
    out.sort();
    out.dedup();
    out
}

// ------------------------------------------------------------------ formatting times

fn local_stamp(dt: DateTime) -> String {
    dt.strftime("%Y%m%dT%H%M%S").to_string()
}

fn utc_stamp(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// `+0100`, or `+012321` for historical offsets with seconds.
fn offset_value(o: Offset) -> String {
    let total = o.seconds();
    let sign = if total < 0 { '-' } else { '+' };
    let abs = total.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

// ------------------------------------------------------------------ VTIMEZONE

/// One change of offset: when, and the offsets before and after.
#[derive(Debug, Clone)]
struct Change {
    at: Timestamp,
    from: Offset,
    to: Offset,
    name: String,
    dst: bool,
}

impl Change {
    /// The wall-clock time of the change in the offset before it (`DTSTART` of an
    /// observance).
    fn local(&self) -> DateTime {
        self.from.to_datetime(self.at)
    }

    fn same_kind(&self, other: &Change) -> bool {
        self.from == other.from
            && self.to == other.to
            && self.name == other.name
            && self.dst == other.dst
    }
}

/// The `VTIMEZONE` of `tz` covering `from` to `until` (None: an endless series).
fn vtimezone(tz: &TimeZone, tzid: &str, from: Timestamp, until: Option<Timestamp>) -> Vec<String> {
    let changes = changes(tz, from, until);
    let mut out = vec!["BEGIN:VTIMEZONE".to_string(), format!("TZID:{tzid}")];
    if changes.is_empty() {
        // No change ever (UTC, fixed zones): one observance from the epoch on.
        let info = tz.to_offset_info(from);
        let offset = offset_value(info.offset());
        out.extend([
            "BEGIN:STANDARD".to_string(),
            "DTSTART:19700101T000000".to_string(),
            format!("TZOFFSETFROM:{offset}"),
            format!("TZOFFSETTO:{offset}"),
            format!("TZNAME:{}", escape_text(info.abbreviation())),
            "END:STANDARD".to_string(),
        ]);
    }
    let last_year = changes.last().map(|c| c.local().year());
    for run in runs(&changes) {
        let open = until.is_none() && run.last().map(|c| c.local().year()) == last_year;
        out.extend(observance(&run, open));
    }
    out.push("END:VTIMEZONE".to_string());
    out
}

/// The change in effect at `from` and every change up to the end of the last year covered.
fn changes(tz: &TimeZone, from: Timestamp, until: Option<Timestamp>) -> Vec<Change> {
    let first_year = tz.to_datetime(from).year();
    let last_year = match until {
        Some(t) => tz.to_datetime(t).year(),
        None => first_year.saturating_add(OPEN_SERIES_YEARS),
    };
    let cover_end = Date::new(last_year.saturating_add(1), 1, 1)
        .ok()
        .and_then(|d| d.to_zoned(tz.clone()).ok())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MAX);
    let before = tz.preceding(from).next().map(|t| t.timestamp());
    let start = before.unwrap_or(from);
    let mut out = Vec::new();
    let mut stamps: Vec<Timestamp> = before.into_iter().collect();
    stamps.extend(
        tz.following(start)
            .map(|t| t.timestamp())
            .take_while(|t| *t < cover_end)
            .filter(|t| Some(*t) != before),
    );
    for at in stamps {
        let Ok(just_before) = at.checked_sub(SignedDuration::from_secs(1)) else {
            continue;
        };
        let info = tz.to_offset_info(at);
        let from = tz.to_offset(just_before);
        out.push(Change {
            at,
            from,
            to: info.offset(),
            name: info.abbreviation().to_string(),
            dst: info.dst().is_dst(),
        });
    }
    out
}

/// Changes of the same kind in consecutive years that one yearly rule describes, each run in
/// order of its first change.
fn runs(changes: &[Change]) -> Vec<Vec<Change>> {
    let mut runs: Vec<Vec<Change>> = Vec::new();
    for c in changes {
        let fits = runs.iter_mut().rev().find(|run| {
            run.last().is_some_and(|last| {
                last.same_kind(c) && {
                    let mut candidate: Vec<&Change> = run.iter().collect();
                    candidate.push(c);
                    yearly_rule(&candidate).is_some()
                }
            })
        });
        match fits {
            Some(run) => run.push(c.clone()),
            None => runs.push(vec![c.clone()]),
        }
    }
    runs.sort_by_key(|run| run.first().map(|c| c.at));
    runs
}

/// `FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU` when the changes fall one a year, in consecutive years,
/// at the same wall-clock time on the same rule day; None otherwise.
fn yearly_rule(changes: &[&Change]) -> Option<String> {
    let locals: Vec<DateTime> = changes.iter().map(|c| c.local()).collect();
    let first = *locals.first()?;
    let consecutive = locals
        .windows(2)
        .all(|w| i32::from(w[1].year()) == i32::from(w[0].year()) + 1);
    let same_time = locals
        .iter()
        .all(|l| l.time() == first.time() && l.month() == first.month());
    if !consecutive || !same_time {
        return None;
    }
    let month = first.month();
    let weekday = first.weekday();
    let same_weekday = locals.iter().all(|l| l.weekday() == weekday);
    let from_end = |l: &DateTime| -(i32::from((l.date().days_in_month() - l.day()) / 7) + 1);
    let nth = |l: &DateTime| i32::from((l.day() - 1) / 7) + 1;
    if same_weekday && locals.iter().all(|l| from_end(l) == -1) {
        return Some(format!(
            "FREQ=YEARLY;BYMONTH={month};BYDAY=-1{}",
            weekday_code(weekday)
        ));
    }
    if same_weekday && locals.iter().all(|l| nth(l) == nth(&first)) {
        return Some(format!(
            "FREQ=YEARLY;BYMONTH={month};BYDAY={}{}",
            nth(&first),
            weekday_code(weekday)
        ));
    }
    if locals.iter().all(|l| l.day() == first.day()) {
        return Some(format!(
            "FREQ=YEARLY;BYMONTH={month};BYMONTHDAY={}",
            first.day()
        ));
    }
    None
}

/// One `STANDARD`/`DAYLIGHT` block for a run of changes; `open`: the rule goes on after the
/// covered years (no `UNTIL`).
fn observance(run: &[Change], open: bool) -> Vec<String> {
    let Some(first) = run.first() else {
        return Vec::new();
    };
    let kind = if first.dst { "DAYLIGHT" } else { "STANDARD" };
    let mut out = vec![
        format!("BEGIN:{kind}"),
        format!("DTSTART:{}", local_stamp(first.local())),
        format!("TZOFFSETFROM:{}", offset_value(first.from)),
        format!("TZOFFSETTO:{}", offset_value(first.to)),
    ];
    let refs: Vec<&Change> = run.iter().collect();
    if run.len() > 1
        && let Some(rule) = yearly_rule(&refs)
    {
        match (open, run.last()) {
            (false, Some(last)) => out.push(format!("RRULE:{rule};UNTIL={}", utc_stamp(last.at))),
            _ => out.push(format!("RRULE:{rule}")),
        }
    }
    if !first.name.is_empty() {
        out.push(format!("TZNAME:{}", escape_text(&first.name)));
    }
    out.push(format!("END:{kind}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_75_octets_and_utf8() {
        let line = format!("DESCRIPTION:{}", "ä".repeat(60));
        let folded = fold(&line);
        for (i, part) in folded.split("\r\n").enumerate() {
            assert!(part.len() <= 75, "{part:?} is {} octets", part.len());
            assert_eq!(part.starts_with(' '), i > 0);
        }
        let unfolded = folded.replace("\r\n ", "");
        assert_eq!(unfolded, line);
        assert_eq!(fold("SHORT:x"), "SHORT:x");
        let exact = "X".repeat(75);
        assert_eq!(fold(&exact), exact);
        assert_eq!(fold(&"X".repeat(76)), format!("{}\r\n X", "X".repeat(75)));
    }

    #[test]
    fn text_escaping() {
        assert_eq!(
            escape_text("a,b;c\\d\r\ne\nf\rg"),
            "a\\,b\\;c\\\\d\\ne\\nf\\ng"
        );
        assert_eq!(escape_text("tab\there\u{7}"), "tab here");
    }

    #[test]
    fn names_in_parameters_are_quoted() {
        let m = Mailbox {
            name: Some("Dr. \"Ada\"; Lovelace, PhD".into()),
            email: "ada@uni.example".parse().unwrap(),
        };
        assert_eq!(cn(&m), ";CN=\"Dr. 'Ada'; Lovelace, PhD\"");
        assert_eq!(param_value("Europe/Vienna"), "Europe/Vienna");
    }

    #[test]
    fn offsets() {
        assert_eq!(offset_value(Offset::constant(1)), "+0100");
        assert_eq!(offset_value(Offset::constant(-5)), "-0500");
        assert_eq!(offset_value(Offset::from_seconds(3921).unwrap()), "+010521");
    }

    #[test]
    fn vienna_rules_are_yearly() {
        let tz = TimeZone::get("Europe/Vienna").unwrap();
        let from: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
        let until: Timestamp = "2028-02-01T09:00:00Z".parse().unwrap();
        let lines = vtimezone(&tz, "Europe/Vienna", from, Some(until));
        let text = lines.join("\n");
        assert!(text.contains("DTSTART:20261025T030000"), "{text}");
        assert!(
            text.contains("RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;UNTIL=20281029T010000Z"),
            "{text}"
        );
        assert!(
            text.contains("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;UNTIL=20280326T010000Z"),
            "{text}"
        );
        let open = vtimezone(&tz, "Europe/Vienna", from, None).join("\n");
        assert!(
            open.contains("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\n"),
            "{open}"
        );
    }

    #[test]
    fn zone_without_changes_has_one_observance() {
        let from: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
        let text = vtimezone(&TimeZone::UTC, "UTC", from, None).join("\n");
        assert!(
            text.contains("TZOFFSETFROM:+0000\nTZOFFSETTO:+0000"),
            "{text}"
        );
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        let text = vtimezone(&tokyo, "Asia/Tokyo", from, None).join("\n");
        assert!(text.contains("TZOFFSETTO:+0900"), "{text}");
        assert_eq!(text.matches("BEGIN:STANDARD").count(), 1, "{text}");
    }
}
