//! Pure planning: a meeting's occurrences, the steps around each occurrence and when they are
//! due, what to do with a step whose time passed unnoticed, and what an edit changes.
//!
//! Recurrence is expanded here with jiff rather than the `rrule` crate: the scheduler needs
//! only day-level rules (every occurrence keeps the wall-clock time of `startDate`, which is
//! jiff's civil arithmetic plus one zone lookup per occurrence), one zone database for the
//! whole program (rrule brings chrono-tz with its own compiled-in tzdata, which can disagree
//! with the system tzdata jiff reads), and it must refuse what it does not implement instead
//! of accepting every RFC 5545 part.

use crate::config::MeetingDefaults;
use crate::domain::MeetingSpec;
use crate::domain::meeting::recurrence::{ByDay, Frequency, SeriesEnd, Until};
use crate::domain::meeting::{ExDate, MisfirePolicy, Recurrence, seed_datetime};
use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp, Zoned};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// `misfireGraceMinutes` when the meeting does not set it.
pub const DEFAULT_MISFIRE_GRACE_MINUTES: u32 = 15;

/// A step this late still counts as on time: the scheduler itself needs a moment to get to
/// it, and `skip` must not drop steps of a daemon that was running all along.
pub const ON_TIME_TOLERANCE: SignedDuration = SignedDuration::from_secs(60);

/// Minutes an empty BBB meeting stays open after the occurrence's start, for late joiners.
pub const JOIN_MARGIN_MINUTES: u32 = 15;

/// A series is expanded at most this many years past its `startDate`: open-ended rules need
/// an end, and no meeting series is planned a century ahead.
pub const MAX_SERIES_YEARS: i16 = 100;

/// Why a meeting cannot be planned. The text is meant for the admin; [`PlanError::key`]
/// names the meeting key to point at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the meeting has no startDate, so there is no time to plan it at")]
    NoStart,
    #[error("a recurrence needs startDate: it is the first occurrence")]
    RecurrenceWithoutStart,
    #[error("timeZone {0:?} is not a known time zone; use an IANA name such as Europe/Vienna")]
    UnknownZone(String),
    #[error("startDate {start} cannot be placed in time zone {zone}")]
    StartOutOfRange { start: String, zone: String },
    #[error(
        "startDate {start} (a {weekday}) is not a day of the recurrence {rule}; \
         make startDate the first occurrence"
    )]
    StartNotInRule {
        start: String,
        weekday: String,
        rule: String,
    },
    #[error("the recurrence {rule} ends (UNTIL) before startDate {start}, so it never occurs")]
    UntilBeforeStart { rule: String, start: String },
    #[error(
        "exdate {exdate}: a one-off meeting has nothing to skip; add a recurrence or remove exdate"
    )]
    ExdateWithoutRecurrence { exdate: String },
    #[error(
        "exdate {exdate} is not at the meeting's time {time}, so it would skip nothing; \
         write {day} {time} or just {day}"
    )]
    ExdateTime {
        exdate: String,
        day: String,
        time: String,
    },
    #[error("exdate {exdate} is not a day of the recurrence {rule}, so it would skip nothing")]
    ExdateNotInSeries { exdate: String, rule: String },
}

impl PlanError {
    /// The meeting key (seed/JSON name) the problem is about.
    pub fn key(&self) -> &'static str {
        match self {
            Self::NoStart | Self::StartOutOfRange { .. } => "startDate",
            Self::RecurrenceWithoutStart
            | Self::StartNotInRule { .. }
            | Self::UntilBeforeStart { .. } => "recurrence",
            Self::UnknownZone(_) => "timeZone",
            Self::ExdateWithoutRecurrence { .. }
            | Self::ExdateTime { .. }
            | Self::ExdateNotInSeries { .. } => "exdate",
        }
    }
}

// ------------------------------------------------------------------ definition checks

/// The checks that need no time zone: a recurrence has a `startDate` that is one of its days
/// and does not end before it; `exdate` entries belong to a recurrence and are at its time.
/// The config reader and the service call this; `occurrences` does too.
pub fn check_definition(spec: &MeetingSpec) -> Result<(), PlanError> {
    check_recurrence(spec)?;
    spec.exdate.iter().try_for_each(|e| check_exdate(spec, e))
}

/// The recurrence against `startDate`: present, one of the rule's days, not after UNTIL.
pub fn check_recurrence(spec: &MeetingSpec) -> Result<(), PlanError> {
    match (&spec.recurrence, spec.start) {
        (Some(_), None) => Err(PlanError::RecurrenceWithoutStart),
        (Some(rule), Some(start)) => check_rule_start(rule, start),
        (None, _) => Ok(()),
    }
}

/// One `exdate` entry against the rest of the definition: it must name an occurrence, or it
/// is most likely a typo that would leave the meeting on.
pub fn check_exdate(spec: &MeetingSpec, exdate: &ExDate) -> Result<(), PlanError> {
    let Some(rule) = &spec.recurrence else {
        return Err(PlanError::ExdateWithoutRecurrence {
            exdate: exdate.to_string(),
        });
    };
    let Some(start) = spec.start else {
        return Ok(());
    };
    if let ExDate::At(at) = exdate
        && at.time() != start.time()
    {
        return Err(PlanError::ExdateTime {
            exdate: exdate.to_string(),
            day: at.date().strftime("%Y-%m-%d").to_string(),
            time: start.time().strftime("%H:%M").to_string(),
        });
    }
    let day = exdate.date();
    if SeriesDates::new(rule, start.date()).find(|d| *d >= day) != Some(day) {
        return Err(PlanError::ExdateNotInSeries {
            exdate: exdate.to_string(),
            rule: rule.to_string(),
        });
    }
    Ok(())
}

fn check_rule_start(rule: &Recurrence, start: DateTime) -> Result<(), PlanError> {
    let until_before = match rule.end() {
        SeriesEnd::Until(Until::Date(d)) => d < start.date(),
        SeriesEnd::Until(Until::Local(u)) => u < start,
        _ => false,
    };
    if until_before {
        return Err(until_before_start(rule, start));
    }
    if SeriesDates::new(rule, start.date()).next() != Some(start.date()) {
        return Err(PlanError::StartNotInRule {
            start: seed_datetime::format(&start),
            weekday: weekday_name(start.weekday()).to_string(),
            rule: rule.to_string(),
        });
    }
    Ok(())
}

fn until_before_start(rule: &Recurrence, start: DateTime) -> PlanError {
    PlanError::UntilBeforeStart {
        rule: rule.to_string(),
        start: seed_datetime::format(&start),
    }
}

fn weekday_name(w: Weekday) -> &'static str {
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

/// The meeting's own `timeZone`, else `default` (the app's `defaults.timeZone`).
pub fn meeting_zone(spec: &MeetingSpec, default: &TimeZone) -> Result<TimeZone, PlanError> {
    match &spec.time_zone {
        None => Ok(default.clone()),
        Some(name) => TimeZone::get(name).map_err(|_| PlanError::UnknownZone(name.clone())),
    }
}

// ------------------------------------------------------------------ occurrences

/// One run of a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Stable identity: the wall-clock start in the meeting's zone, `2026-12-01T10:00`. It
    /// names the nominal time even when a DST gap moves the real start.
    pub key: String,
    /// Position in the series, 0 = `startDate`; EXDATEs keep their numbers (as for COUNT).
    pub index: u32,
    /// When it starts (`startDate`'s time of day on this occurrence's day).
    pub start: Zoned,
}

/// The meeting's occurrences starting at or after `after`, at most `limit` of them, in order.
///
/// `zone` is the app's default zone; a meeting's own `timeZone` wins. Every occurrence is at
/// the time of day of `startDate` in that zone, across DST changes; a time that falls into a
/// DST gap moves forward by the gap (02:30 → 03:30), one that exists twice is the first.
/// EXDATEs are removed, COUNT and UNTIL honoured (COUNT counts EXDATE'd occurrences, as
/// RFC 5545 says). A one-off meeting has one occurrence.
pub fn occurrences(
    spec: &MeetingSpec,
    zone: &TimeZone,
    after: Timestamp,
    limit: usize,
) -> Result<Vec<Occurrence>, PlanError> {
    let series = Series::of(spec, zone)?;
    Ok(series
        .iter(after)
        .filter(|o| o.start.timestamp() >= after)
        .take(limit)
        .collect())
}

/// A checked meeting definition, ready to expand.
struct Series<'s> {
    spec: &'s MeetingSpec,
    start: DateTime,
    tz: TimeZone,
}

impl<'s> Series<'s> {
    fn of(spec: &'s MeetingSpec, default_zone: &TimeZone) -> Result<Self, PlanError> {
        let start = spec.start.ok_or(match spec.recurrence {
            Some(_) => PlanError::RecurrenceWithoutStart,
            None => PlanError::NoStart,
        })?;
        check_definition(spec)?;
        let tz = meeting_zone(spec, default_zone)?;
        let first = start
            .to_zoned(tz.clone())
            .map_err(|_| PlanError::StartOutOfRange {
                start: seed_datetime::format(&start),
                zone: tz.iana_name().unwrap_or("the meeting's zone").to_string(),
            })?;
        if let Some(rule) = &spec.recurrence
            && let SeriesEnd::Until(Until::Utc(until)) = rule.end()
            && first.timestamp() > until
        {
            return Err(until_before_start(rule, start));
        }
        Ok(Self { spec, start, tz })
    }

    /// The occurrences, cheaply skipping days that are surely before `after`.
    fn iter(&self, after: Timestamp) -> impl Iterator<Item = Occurrence> + '_ {
        let dates: Box<dyn Iterator<Item = Date> + '_> = match &self.spec.recurrence {
            Some(rule) => Box::new(SeriesDates::new(rule, self.start.date())),
            None => Box::new(std::iter::once(self.start.date())),
        };
        // Any time on a day before the day before `after`'s local day is earlier than
        // `after`, whatever the offsets; those days need no zone lookup.
        let skip_before = after
            .to_zoned(self.tz.clone())
            .date()
            .yesterday()
            .unwrap_or(Date::MIN);
        dates
            .enumerate()
            .filter(move |(_, day)| *day >= skip_before)
            .map_while(|(index, day)| self.occurrence(index, day))
            .filter(|(at, _)| !self.spec.exdate.iter().any(|e| e.excludes(*at)))
            .map(|(_, occurrence)| occurrence)
    }

    /// The occurrence on `day`, or None once the series is over (UNTIL, or the calendar's end).
    fn occurrence(&self, index: usize, day: Date) -> Option<(DateTime, Occurrence)> {
        let at = day.to_datetime(self.start.time());
        let start = at.to_zoned(self.tz.clone()).ok()?;
        if self.after_until(at, &start) {
            return None;
        }
        let occurrence = Occurrence {
            key: at.strftime("%Y-%m-%dT%H:%M").to_string(),
            index: u32::try_from(index).unwrap_or(u32::MAX),
            start,
        };
        Some((at, occurrence))
    }

    fn after_until(&self, at: DateTime, start: &Zoned) -> bool {
        let Some(rule) = &self.spec.recurrence else {
            return false;
        };
        match rule.end() {
            SeriesEnd::Until(Until::Date(d)) => at.date() > d,
            SeriesEnd::Until(Until::Local(u)) => at > u,
            SeriesEnd::Until(Until::Utc(t)) => start.timestamp() > t,
            SeriesEnd::Never | SeriesEnd::Count(_) => false,
        }
    }
}

/// The days of a rule from `start` on, in order, COUNT applied. Works period by period (a
/// day, week, month or year, every INTERVAL-th), collecting the days the BY* parts pick.
struct SeriesDates<'r> {
    rule: &'r Recurrence,
    start: Date,
    base: Date,
    period: i64,
    pending: VecDeque<Date>,
    emitted: u32,
    horizon: Date,
    done: bool,
}

impl<'r> SeriesDates<'r> {
    fn new(rule: &'r Recurrence, start: Date) -> Self {
        let base = match rule.freq() {
            Frequency::Daily => start,
            Frequency::Weekly => start
                .checked_sub(Span::new().days(start.weekday().since(rule.week_start())))
                .unwrap_or(start),
            Frequency::Monthly => start.first_of_month(),
            Frequency::Yearly => start.first_of_year(),
        };
        let horizon = start
            .checked_add(Span::new().years(MAX_SERIES_YEARS))
            .unwrap_or(Date::MAX);
        Self {
            rule,
            start,
            base,
            period: 0,
            pending: VecDeque::new(),
            emitted: 0,
            horizon,
            done: false,
        }
    }

    /// The first day of period `k`, None past the end of the calendar.
    fn period_start(&self, k: i64) -> Option<Date> {
        let n = k.checked_mul(i64::from(self.rule.interval()))?;
        let span = match self.rule.freq() {
            Frequency::Daily => Span::new().try_days(n),
            Frequency::Weekly => Span::new().try_weeks(n),
            Frequency::Monthly => Span::new().try_months(n),
            Frequency::Yearly => Span::new().try_years(n),
        };
        self.base.checked_add(span.ok()?).ok()
    }

    fn fill(&mut self) {
        let Some(first) = self
            .period_start(self.period)
            .filter(|d| *d <= self.horizon)
        else {
            self.done = true;
            return;
        };
        self.period += 1;
        let mut days = candidates(self.rule, self.start, first);
        days.retain(|d| *d >= self.start && *d <= self.horizon);
        days.sort_unstable();
        days.dedup();
        self.pending.extend(days);
    }
}

impl Iterator for SeriesDates<'_> {
    type Item = Date;

    fn next(&mut self) -> Option<Date> {
        loop {
            if let SeriesEnd::Count(n) = self.rule.end()
                && self.emitted >= n
            {
                self.done = true;
            }
            if self.done {
                return None;
            }
            if let Some(day) = self.pending.pop_front() {
                self.emitted += 1;
                return Some(day);
            }
            self.fill();
        }
    }
}

/// The days a rule picks in the period starting at `first`, unsorted.
fn candidates(rule: &Recurrence, start: Date, first: Date) -> Vec<Date> {
    match rule.freq() {
        Frequency::Daily => vec![first]
            .into_iter()
            .filter(|d| in_months(rule, *d) && daily_day_ok(rule, *d))
            .collect(),
        Frequency::Weekly => week_days(rule, start, first),
        Frequency::Monthly if in_months(rule, first) => month_days(rule, start, first),
        Frequency::Monthly => Vec::new(),
        Frequency::Yearly => year_months(rule, start)
            .into_iter()
            .filter_map(|m| Date::new(first.year(), m, 1).ok())
            .flat_map(|m| month_days(rule, start, m))
            .collect(),
    }
}

/// BYMONTH as a filter (DAILY, WEEKLY, MONTHLY).
fn in_months(rule: &Recurrence, day: Date) -> bool {
    rule.by_month().is_empty() || rule.by_month().contains(&day.month())
}

/// BYMONTHDAY and BYDAY as filters in a DAILY rule.
fn daily_day_ok(rule: &Recurrence, day: Date) -> bool {
    let month_day_ok = rule.by_month_day().is_empty()
        || rule
            .by_month_day()
            .iter()
            .any(|md| day_in_month(day.first_of_month(), *md) == Some(day));
    let weekday_ok =
        rule.by_day().is_empty() || rule.by_day().iter().any(|b| b.weekday == day.weekday());
    month_day_ok && weekday_ok
}

/// The BYDAY weekdays (else `startDate`'s) in the week starting at `first`.
fn week_days(rule: &Recurrence, start: Date, first: Date) -> Vec<Date> {
    let weekdays: Vec<Weekday> = if rule.by_day().is_empty() {
        vec![start.weekday()]
    } else {
        rule.by_day().iter().map(|b| b.weekday).collect()
    };
    weekdays
        .into_iter()
        .filter_map(|w| {
            first
                .checked_add(Span::new().days(w.since(rule.week_start())))
                .ok()
        })
        .filter(|d| in_months(rule, *d))
        .collect()
}

/// Months of a YEARLY rule: BYMONTH, else `startDate`'s month unless BYMONTHDAY asks for
/// days in every month.
fn year_months(rule: &Recurrence, start: Date) -> Vec<i8> {
    if !rule.by_month().is_empty() {
        rule.by_month().to_vec()
    } else if rule.by_month_day().is_empty() && rule.by_day().is_empty() {
        vec![start.month()]
    } else {
        (1..=12).collect()
    }
}

/// The days a MONTHLY rule (or one month of a YEARLY rule) picks in the month of `first`:
/// BYMONTHDAY (limited by BYDAY when both are given), else BYDAY, else `startDate`'s day.
/// Days the month does not have (the 31st in April) are skipped, as RFC 5545 says.
fn month_days(rule: &Recurrence, start: Date, first: Date) -> Vec<Date> {
    if !rule.by_month_day().is_empty() {
        rule.by_month_day()
            .iter()
            .filter_map(|md| day_in_month(first, *md))
            .filter(|d| rule.by_day().is_empty() || rule.by_day().iter().any(|b| matches(*b, *d)))
            .collect()
    } else if !rule.by_day().is_empty() {
        rule.by_day()
            .iter()
            .flat_map(|b| by_day_in_month(*b, first))
            .collect()
    } else {
        day_in_month(first, start.day()).into_iter().collect()
    }
}

/// Day `md` of the month of `first` (negative: counted from its end), if it has that day.
fn day_in_month(first: Date, md: i8) -> Option<Date> {
    let days = first.days_in_month();
    let day = if md > 0 { md } else { days + 1 + md };
    (1..=days)
        .contains(&day)
        .then(|| Date::new(first.year(), first.month(), day).ok())
        .flatten()
}

/// All days of the month matching one BYDAY entry (`TU`: every Tuesday, `-1FR`: the last Friday).
fn by_day_in_month(b: ByDay, first: Date) -> Vec<Date> {
    if let Some(nth) = b.nth {
        return first
            .nth_weekday_of_month(nth, b.weekday)
            .ok()
            .into_iter()
            .collect();
    }
    let offset = b.weekday.since(first.weekday());
    (0..5)
        .filter_map(|week| first.checked_add(Span::new().days(offset + 7 * week)).ok())
        .filter(|d| d.month() == first.month())
        .collect()
}

/// Whether `day` is what a BYDAY entry names, its ordinal counted within the month.
fn matches(b: ByDay, day: Date) -> bool {
    if day.weekday() != b.weekday {
        return false;
    }
    match b.nth {
        None => true,
        Some(n) if n > 0 => (day.day() - 1) / 7 + 1 == n,
        Some(n) => (day.days_in_month() - day.day()) / 7 + 1 == -n,
    }
}

// ------------------------------------------------------------------ timeline

/// The app's meeting defaults (bot-config.yml `defaults:`), which a meeting's own keys
/// override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDefaults {
    pub pre_open_minutes: u32,
    pub pre_start_minutes: u32,
    pub reminder_minutes: u32,
    pub end_after_minutes: u32,
}

impl Default for PlanDefaults {
    /// The original's command-line defaults: pre-open 90 minutes, nothing else.
    fn default() -> Self {
        Self {
            pre_open_minutes: 90,
            pre_start_minutes: 0,
            reminder_minutes: 0,
            end_after_minutes: 0,
        }
    }
}

impl From<&MeetingDefaults> for PlanDefaults {
    fn from(d: &MeetingDefaults) -> Self {
        Self {
            pre_open_minutes: d.pre_open_minutes,
            pre_start_minutes: d.pre_start_minutes,
            reminder_minutes: d.reminder_minutes,
            end_after_minutes: d.end_after_minutes,
        }
    }
}

impl PlanDefaults {
    /// The offsets for one meeting: its own keys where set, else these defaults.
    pub fn for_meeting(&self, spec: &MeetingSpec) -> Self {
        Self {
            pre_open_minutes: spec.pre_open_minutes.unwrap_or(self.pre_open_minutes),
            pre_start_minutes: spec.pre_start_minutes.unwrap_or(self.pre_start_minutes),
            reminder_minutes: spec.reminder_minutes.unwrap_or(self.reminder_minutes),
            end_after_minutes: spec.end_after_minutes.unwrap_or(self.end_after_minutes),
        }
    }
}

/// The steps of the workflow (issue "Meeting scheduler", seed-behaviour.md §4.3), in
/// workflow order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    EnsureOwner,
    EnsureRoom,
    ApplyRoomSettings,
    OwnerInfoMail,
    Shares,
    Invitations,
    ModeratorLinks,
    OwnerReminder,
    PreOpen,
    Start,
    EndAfter,
}

/// Whether a step happens once per meeting definition or once per occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepScope {
    /// Once for the whole series: the owner's info mail, shares, invitations and moderator
    /// links are about the room, which all occurrences share.
    Series,
    /// Once per occurrence.
    Occurrence,
}

impl StepKind {
    pub const ALL: [Self; 11] = [
        Self::EnsureOwner,
        Self::EnsureRoom,
        Self::ApplyRoomSettings,
        Self::OwnerInfoMail,
        Self::Shares,
        Self::Invitations,
        Self::ModeratorLinks,
        Self::OwnerReminder,
        Self::PreOpen,
        Self::Start,
        Self::EndAfter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnsureOwner => "ensure_owner",
            Self::EnsureRoom => "ensure_room",
            Self::ApplyRoomSettings => "apply_room_settings",
            Self::OwnerInfoMail => "owner_info_mail",
            Self::Shares => "shares",
            Self::Invitations => "invitations",
            Self::ModeratorLinks => "moderator_links",
            Self::OwnerReminder => "owner_reminder",
            Self::PreOpen => "pre_open",
            Self::Start => "start",
            Self::EndAfter => "end_after",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn scope(self) -> StepScope {
        match self {
            Self::OwnerInfoMail | Self::Shares | Self::Invitations | Self::ModeratorLinks => {
                StepScope::Series
            }
            _ => StepScope::Occurrence,
        }
    }

    /// Due at a time derived from the occurrence's start; the others are due when planned.
    pub fn is_timed(self) -> bool {
        matches!(
            self,
            Self::OwnerReminder | Self::PreOpen | Self::Start | Self::EndAfter
        )
    }

    /// Whether the meeting's misfire policy decides about this step when it is late. Setup
    /// steps always catch up (an invitation sent late beats none), and so does the end: a
    /// meeting must not run on because the daemon was down at its end time.
    pub fn follows_misfire_policy(self) -> bool {
        matches!(self, Self::OwnerReminder | Self::PreOpen | Self::Start)
    }
}

/// A step of one occurrence and when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStep {
    pub kind: StepKind,
    pub due: Timestamp,
}

impl PlannedStep {
    /// Unique key of this step, for the step history and for idempotency: series steps are
    /// keyed by kind alone, so a series sends its invitations once.
    pub fn key(&self, occurrence: &Occurrence) -> String {
        match self.kind.scope() {
            StepScope::Series => self.kind.as_str().to_string(),
            StepScope::Occurrence => format!("{}/{}", occurrence.key, self.kind.as_str()),
        }
    }
}

/// The steps of `occurrence` in the order they are to run: the setup steps the definition
/// asks for (due at `planned_at`), then the timed ones by due time:
/// owner reminder (start − preStart − reminderMinutes, when reminderMinutes > 0 and there is
/// an owner or a room to notify), pre-open (start − preStart − preOpenMinutes, when > 0), start (start −
/// preStart), end (start + endAfterMinutes, when > 0; counted from `startDate` as the original
/// did). A step never runs before the ones listed ahead of it.
pub fn timeline(
    spec: &MeetingSpec,
    defaults: &PlanDefaults,
    occurrence: &Occurrence,
    planned_at: Timestamp,
) -> Vec<PlannedStep> {
    let mut steps: Vec<PlannedStep> = setup_steps(spec)
        .into_iter()
        .map(|kind| PlannedStep {
            kind,
            due: planned_at,
        })
        .collect();
    let mut timed = timed_steps(spec, &defaults.for_meeting(spec), occurrence);
    timed.sort_by_key(|s| (s.due, s.kind));
    steps.extend(timed);
    steps
}

/// The untimed steps this definition needs; a meeting without owner, room or recipients
/// skips the steps about them instead of failing them.
fn setup_steps(spec: &MeetingSpec) -> Vec<StepKind> {
    let has_room = spec.room.is_some() || spec.use_home_room == Some(true);
    [
        (StepKind::EnsureOwner, spec.owner.is_some()),
        (StepKind::EnsureRoom, has_room),
        (StepKind::ApplyRoomSettings, has_room),
        (StepKind::OwnerInfoMail, spec.owner.is_some()),
        (StepKind::Shares, !spec.share_with.is_empty()),
        (StepKind::Invitations, !spec.send_invitation_link.is_empty()),
        (
            StepKind::ModeratorLinks,
            !spec.send_moderator_link.is_empty(),
        ),
    ]
    .into_iter()
    .filter_map(|(kind, wanted)| wanted.then_some(kind))
    .collect()
}

fn timed_steps(spec: &MeetingSpec, o: &PlanDefaults, occurrence: &Occurrence) -> Vec<PlannedStep> {
    let start = occurrence.start.timestamp();
    let effective = shift(start, -i64::from(o.pre_start_minutes));
    let mut steps = Vec::new();
    let mut add = |kind, due| steps.push(PlannedStep { kind, due });
    if o.reminder_minutes > 0 && (spec.owner.is_some() || spec.notify_room.is_some()) {
        add(
            StepKind::OwnerReminder,
            shift(effective, -i64::from(o.reminder_minutes)),
        );
    }
    if o.pre_open_minutes > 0 {
        add(
            StepKind::PreOpen,
            shift(effective, -i64::from(o.pre_open_minutes)),
        );
    }
    add(StepKind::Start, effective);
    if o.end_after_minutes > 0 {
        add(
            StepKind::EndAfter,
            shift(start, i64::from(o.end_after_minutes)),
        );
    }
    steps
}

/// `at` moved by whole minutes, clamped to the representable range (absurd offsets from a
/// definition must not panic).
fn shift(at: Timestamp, minutes: i64) -> Timestamp {
    let by = SignedDuration::from_mins(minutes);
    at.checked_add(by).unwrap_or(if minutes < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// `meetingExpireIfNoUserJoinedInMinutes` for a `create` sent at `at`. BBB ends a meeting
/// nobody joined after 5 minutes by default, which would close a pre-opened room long before
/// anyone is expected; this keeps it until the occurrence's start plus
/// [`JOIN_MARGIN_MINUTES`]. At pre-open that is the rest of the window plus the margin, at
/// start (with preStart 0) just the margin.
pub fn expire_if_no_user_joined_minutes(occurrence: &Occurrence, at: Timestamp) -> u32 {
    let until_start = occurrence.start.timestamp().duration_since(at).as_secs();
    // Whole minutes, rounded up: a create at 09:59:30 for 10:00 still counts one.
    let minutes = (until_start.max(0) + 59) / 60;
    u32::try_from(minutes)
        .unwrap_or(u32::MAX)
        .saturating_add(JOIN_MARGIN_MINUTES)
}

// ------------------------------------------------------------------ misfire

/// What to do with a step that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Run,
    /// Too late: record it as missed (and notify) instead of running it.
    Missed,
}

/// The misfire decision for a step due at `due`, looked at `now`. Up to
/// [`ON_TIME_TOLERANCE`] late is on time under every policy; beyond that `always` runs,
/// `skip` misses, and `grace` runs within `grace` and misses after it.
pub fn decide(
    policy: MisfirePolicy,
    grace: SignedDuration,
    due: Timestamp,
    now: Timestamp,
) -> Decision {
    let late = now.duration_since(due);
    if late <= ON_TIME_TOLERANCE {
        return Decision::Run;
    }
    match policy {
        MisfirePolicy::Always => Decision::Run,
        MisfirePolicy::Skip => Decision::Missed,
        MisfirePolicy::Grace if late <= grace => Decision::Run,
        MisfirePolicy::Grace => Decision::Missed,
    }
}

/// A meeting's misfire settings with their defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misfire {
    pub policy: MisfirePolicy,
    pub grace: SignedDuration,
}

impl Misfire {
    pub fn of(spec: &MeetingSpec) -> Self {
        let minutes = spec
            .misfire_grace_minutes
            .unwrap_or(DEFAULT_MISFIRE_GRACE_MINUTES);
        Self {
            policy: spec.misfire.unwrap_or_default(),
            grace: SignedDuration::from_mins(i64::from(minutes)),
        }
    }

    /// [`decide`] for a planned step; steps outside the policy always run.
    pub fn decide(&self, step: &PlannedStep, now: Timestamp) -> Decision {
        if step.kind.follows_misfire_policy() {
            decide(self.policy, self.grace, step.due, now)
        } else {
            Decision::Run
        }
    }
}

// ------------------------------------------------------------------ re-planning

/// One step whose due time an edit changed; `None` = the step is not planned on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepChange {
    pub kind: StepKind,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// What an edit does to a pending occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replan {
    /// The pending occurrence under the new definition: the same one if its key survives,
    /// else the new definition's next occurrence from that day on (for a one-off meeting: its
    /// only one). None when the new definition has nothing left from there.
    pub occurrence: Option<Occurrence>,
    /// The occurrence kept its key (same day and time).
    pub same_occurrence: bool,
    /// The new timeline of `occurrence` (empty without one).
    pub steps: Vec<PlannedStep>,
    /// Steps added, removed or moved, in workflow order.
    pub changes: Vec<StepChange>,
    /// BBB `create` parameters differ, so an already created meeting does not have them.
    pub create_params_changed: bool,
}

/// What to do with a room already created for the pending occurrence that nobody has joined
/// yet (with participants in it the engine keeps it and applies the edit from the next
/// occurrence on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomAction {
    /// Nothing relevant changed.
    Keep,
    /// End it and create it again now: parameters or the start time changed, and the new
    /// definition wants the room open at this time too.
    Recreate,
    /// End it: the new definition does not want it open now (later pre-open, cancelled
    /// occurrence); its own pre-open or start creates it again.
    End,
}

impl Replan {
    pub fn moved(&self, kind: StepKind) -> bool {
        self.changes.iter().any(|c| c.kind == kind)
    }

    /// See [`RoomAction`]. `now` decides whether the new definition's room is open yet.
    pub fn room_action(&self, now: Timestamp) -> RoomAction {
        let open_from = self
            .steps
            .iter()
            .find(|s| matches!(s.kind, StepKind::PreOpen | StepKind::Start))
            .map(|s| s.due);
        match open_from {
            None => RoomAction::End,
            Some(t) if t > now => RoomAction::End,
            Some(_)
                if self.create_params_changed
                    || !self.same_occurrence
                    || self.moved(StepKind::Start) =>
            {
                RoomAction::Recreate
            }
            Some(_) => RoomAction::Keep,
        }
    }
}

/// Compares the pending occurrence's steps under `old` and `new`. Steps already run are the
/// engine's business; this says where each step is now due.
pub fn replan(
    old: &MeetingSpec,
    new: &MeetingSpec,
    defaults: &PlanDefaults,
    zone: &TimeZone,
    pending: &Occurrence,
    planned_at: Timestamp,
) -> Result<Replan, PlanError> {
    let occurrence = counterpart(new, zone, pending)?;
    let before = timeline(old, defaults, pending, planned_at);
    let steps = occurrence
        .as_ref()
        .map(|o| timeline(new, defaults, o, planned_at))
        .unwrap_or_default();
    let create_params_changed =
        crate::service::create_params(old) != crate::service::create_params(new);
    Ok(Replan {
        same_occurrence: occurrence.as_ref().is_some_and(|o| o.key == pending.key),
        changes: step_changes(&before, &steps),
        occurrence,
        steps,
        create_params_changed,
    })
}

fn counterpart(
    new: &MeetingSpec,
    zone: &TimeZone,
    pending: &Occurrence,
) -> Result<Option<Occurrence>, PlanError> {
    if new.recurrence.is_none() {
        return Ok(occurrences(new, zone, Timestamp::MIN, 1)?
            .into_iter()
            .next());
    }
    let day_start = pending
        .start
        .start_of_day()
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MIN);
    Ok(occurrences(new, zone, day_start, 1)?.into_iter().next())
}

fn step_changes(before: &[PlannedStep], after: &[PlannedStep]) -> Vec<StepChange> {
    let due = |steps: &[PlannedStep], kind| steps.iter().find(|s| s.kind == kind).map(|s| s.due);
    StepKind::ALL
        .into_iter()
        .map(|kind| StepChange {
            kind,
            from: due(before, kind),
            to: due(after, kind),
        })
        .filter(|c| c.from != c.to)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::meeting::seed_datetime;

    fn spec(start: &str, rule: Option<&str>) -> MeetingSpec {
        let mut m = MeetingSpec::new(
            "m".parse().expect("id"),
            "bbb".parse().expect("server"),
            "M",
        );
        m.start = Some(seed_datetime::parse(start).expect("start"));
        m.time_zone = Some("Europe/Vienna".into());
        m.recurrence = rule.map(|r| r.parse().expect("rule"));
        m
    }

    fn days(m: &MeetingSpec, n: usize) -> Vec<String> {
        occurrences(m, &TimeZone::UTC, Timestamp::MIN, n)
            .expect("plan")
            .into_iter()
            .map(|o| o.start.date().to_string())
            .collect()
    }

    #[test]
    fn monthly_by_ordinal_weekday_and_month_end() {
        let last_fri = spec("2026-01-30 10:00", Some("FREQ=MONTHLY;BYDAY=-1FR;COUNT=3"));
        assert_eq!(
            days(&last_fri, 5),
            ["2026-01-30", "2026-02-27", "2026-03-27"]
        );
        let second_tue = spec("2026-01-13 10:00", Some("FREQ=MONTHLY;BYDAY=2TU;COUNT=2"));
        assert_eq!(days(&second_tue, 5), ["2026-01-13", "2026-02-10"]);
        let last_day = spec(
            "2026-01-31 10:00",
            Some("FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=3"),
        );
        assert_eq!(
            days(&last_day, 5),
            ["2026-01-31", "2026-02-28", "2026-03-31"]
        );
        // The 31st skips the months without one (RFC 5545).
        let the_31st = spec("2026-01-31 10:00", Some("FREQ=MONTHLY;COUNT=3"));
        assert_eq!(
            days(&the_31st, 5),
            ["2026-01-31", "2026-03-31", "2026-05-31"]
        );
    }

    #[test]
    fn weekly_interval_and_week_start() {
        let biweekly = spec(
            "2026-12-01 10:00",
            Some("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=4"),
        );
        assert_eq!(
            days(&biweekly, 9),
            ["2026-12-01", "2026-12-03", "2026-12-15", "2026-12-17"]
        );
        // RFC 5545's WKST example: with WKST=SU the Sunday belongs to the next week.
        let mo = spec(
            "1997-08-05 09:00",
            Some("FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO"),
        );
        assert_eq!(
            days(&mo, 9),
            ["1997-08-05", "1997-08-10", "1997-08-19", "1997-08-24"]
        );
        let su = spec(
            "1997-08-05 09:00",
            Some("FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU"),
        );
        assert_eq!(
            days(&su, 9),
            ["1997-08-05", "1997-08-17", "1997-08-19", "1997-08-31"]
        );
    }

    #[test]
    fn daily_filters_and_yearly() {
        let weekdays = spec(
            "2026-12-04 08:00",
            Some("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=3"),
        );
        assert_eq!(
            days(&weekdays, 5),
            ["2026-12-04", "2026-12-07", "2026-12-08"]
        );
        let leap = spec("2028-02-29 10:00", Some("FREQ=YEARLY;COUNT=2"));
        assert_eq!(days(&leap, 5), ["2028-02-29", "2032-02-29"]);
        let march_last_fri = spec(
            "2027-03-26 10:00",
            Some("FREQ=YEARLY;BYMONTH=3;BYDAY=-1FR;COUNT=2"),
        );
        assert_eq!(days(&march_last_fri, 5), ["2027-03-26", "2028-03-31"]);
    }

    #[test]
    fn open_ended_rules_stop_at_the_horizon() {
        let m = spec("2026-12-01 10:00", Some("FREQ=YEARLY"));
        let all = days(&m, usize::MAX);
        assert_eq!(all.len(), usize::try_from(MAX_SERIES_YEARS).unwrap() + 1);
    }

    #[test]
    fn ordinal_matching() {
        let last_fri = ByDay {
            nth: Some(-1),
            weekday: Weekday::Friday,
        };
        assert!(matches(last_fri, jiff::civil::date(2026, 1, 30)));
        assert!(!matches(last_fri, jiff::civil::date(2026, 1, 23)));
    }

    #[test]
    fn shift_clamps() {
        assert_eq!(shift(Timestamp::MAX, 10), Timestamp::MAX);
        assert_eq!(shift(Timestamp::MIN, -10), Timestamp::MIN);
    }
}
