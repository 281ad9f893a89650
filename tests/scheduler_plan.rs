//! The scheduler's pure planning: occurrences (recurrence, DST, EXDATE, COUNT/UNTIL), step
//! timelines, misfire decisions and re-planning after an edit.

use jiff::civil::{DateTime, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use schedulight::config::MeetingDefaults;
use schedulight::domain::meeting::{ExDate, MisfirePolicy, Owner, Recipient, seed_datetime};
use schedulight::domain::{Email, MeetingSpec};
use schedulight::scheduler::plan::{
    self, DEFAULT_MISFIRE_GRACE_MINUTES, JOIN_MARGIN_MINUTES, Misfire, ON_TIME_TOLERANCE,
    expire_if_no_user_joined_minutes,
};
use schedulight::scheduler::{
    Decision, Occurrence, PlanDefaults, PlanError, PlannedStep, RoomAction, StepKind, StepScope,
    decide, occurrences, replan, timeline,
};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn vienna() -> TimeZone {
    TimeZone::get("Europe/Vienna").unwrap()
}

fn email(s: &str) -> Email {
    s.parse().unwrap()
}

fn meeting(start: &str) -> MeetingSpec {
    let mut m = MeetingSpec::new("m1".parse().unwrap(), "bbb".parse().unwrap(), "Seminar");
    m.start = Some(seed_datetime::parse(start).unwrap());
    m.time_zone = Some("Europe/Vienna".into());
    m
}

fn recurring(start: &str, rule: &str) -> MeetingSpec {
    let mut m = meeting(start);
    m.recurrence = Some(rule.parse().unwrap());
    m
}

fn all(m: &MeetingSpec) -> Vec<Occurrence> {
    occurrences(m, &TimeZone::UTC, Timestamp::MIN, 1000).unwrap()
}

fn keys(m: &MeetingSpec) -> Vec<String> {
    all(m).into_iter().map(|o| o.key).collect()
}

fn full_meeting() -> MeetingSpec {
    let mut m = meeting("2026-12-01 10:00");
    m.owner = Some(Owner {
        email: email("alice@uni.example"),
        full_name: "Alice".into(),
        password: None,
        uid: None,
        social_uid: None,
    });
    m.room = Some("abc-def-ghi".parse().unwrap());
    m.share_with
        .insert(email("bob@uni.example"), Recipient::default());
    m.send_invitation_link
        .insert(email("sam@uni.example"), Recipient::default());
    m.send_moderator_link
        .insert(email("tom@uni.example"), Recipient::default());
    m.reminder_minutes = Some(30);
    m.pre_open_minutes = Some(60);
    m.pre_start_minutes = Some(10);
    m.end_after_minutes = Some(90);
    m
}

fn only(m: &MeetingSpec) -> Occurrence {
    let mut o = all(m);
    assert_eq!(o.len(), 1);
    o.remove(0)
}

fn kinds_and_dues(steps: &[PlannedStep]) -> Vec<(StepKind, Timestamp)> {
    steps.iter().map(|s| (s.kind, s.due)).collect()
}

// ------------------------------------------------------------------ timelines

#[test]
fn one_off_timeline_has_every_step_at_its_offset() {
    let m = full_meeting();
    let occ = only(&m);
    assert_eq!(occ.key, "2026-12-01T10:00");
    assert_eq!(occ.index, 0);
    // 10:00 in Vienna in December is 09:00 UTC.
    assert_eq!(occ.start.timestamp(), ts("2026-12-01T09:00:00Z"));
    let planned = ts("2026-11-20T12:00:00Z");
    let steps = timeline(&m, &PlanDefaults::default(), &occ, planned);
    assert_eq!(
        kinds_and_dues(&steps),
        [
            (StepKind::EnsureOwner, planned),
            (StepKind::EnsureRoom, planned),
            (StepKind::ApplyRoomSettings, planned),
            (StepKind::OwnerInfoMail, planned),
            (StepKind::Shares, planned),
            (StepKind::Invitations, planned),
            (StepKind::ModeratorLinks, planned),
            // start − preStart(10) − preOpen(60)
            (StepKind::PreOpen, ts("2026-12-01T07:50:00Z")),
            // start − preStart(10) − reminder(30)
            (StepKind::OwnerReminder, ts("2026-12-01T08:20:00Z")),
            // start − preStart(10)
            (StepKind::Start, ts("2026-12-01T08:50:00Z")),
            // startDate + endAfter(90), not counted from the effective start
            (StepKind::EndAfter, ts("2026-12-01T10:30:00Z")),
        ]
    );
    let serialized = serde_json::to_value(steps[7]).unwrap();
    assert_eq!(serialized["kind"], "pre_open");
}

#[test]
fn defaults_apply_unless_the_meeting_sets_its_own() {
    let plain = meeting("2026-12-01 10:00");
    let occ = only(&plain);
    let planned = ts("2026-11-01T00:00:00Z");
    // The app defaults: pre-open 90, nothing else; no owner, room or recipients: no setup.
    assert_eq!(
        kinds_and_dues(&timeline(&plain, &PlanDefaults::default(), &occ, planned)),
        [
            (StepKind::PreOpen, ts("2026-12-01T07:30:00Z")),
            (StepKind::Start, ts("2026-12-01T09:00:00Z")),
        ]
    );
    let site = PlanDefaults {
        pre_open_minutes: 30,
        pre_start_minutes: 5,
        reminder_minutes: 60,
        end_after_minutes: 120,
    };
    // Defaults from bot-config.yml; the reminder needs an owner to remind.
    assert_eq!(
        kinds_and_dues(&timeline(&plain, &site, &occ, planned)),
        [
            (StepKind::PreOpen, ts("2026-12-01T08:25:00Z")),
            (StepKind::Start, ts("2026-12-01T08:55:00Z")),
            (StepKind::EndAfter, ts("2026-12-01T11:00:00Z")),
        ]
    );
    let mut own = full_meeting();
    own.pre_open_minutes = Some(0);
    own.pre_start_minutes = None;
    own.reminder_minutes = None;
    own.end_after_minutes = Some(0);
    let timed: Vec<_> = timeline(&own, &site, &occ, planned)
        .into_iter()
        .filter(|s| s.kind.is_timed())
        .map(|s| (s.kind, s.due))
        .collect();
    assert_eq!(
        timed,
        [
            (StepKind::OwnerReminder, ts("2026-12-01T07:55:00Z")),
            (StepKind::Start, ts("2026-12-01T08:55:00Z")),
        ],
        "0 switches a step off; unset keys take the defaults"
    );
    let from_config = PlanDefaults::from(&MeetingDefaults::default());
    assert_eq!(from_config, PlanDefaults::default());
}

#[test]
fn series_steps_are_keyed_once_per_series() {
    let mut m = full_meeting();
    m.recurrence = Some("FREQ=WEEKLY;COUNT=3".parse().unwrap());
    let occ = all(&m);
    let planned = ts("2026-11-20T12:00:00Z");
    let key_of = |o: &Occurrence, kind| {
        timeline(&m, &PlanDefaults::default(), o, planned)
            .into_iter()
            .find(|s| s.kind == kind)
            .unwrap()
            .key(o)
    };
    assert_eq!(key_of(&occ[0], StepKind::Invitations), "invitations");
    assert_eq!(key_of(&occ[2], StepKind::Invitations), "invitations");
    assert_eq!(key_of(&occ[2], StepKind::Start), "2026-12-15T10:00/start");
    assert_eq!(StepKind::Shares.scope(), StepScope::Series);
    assert_eq!(StepKind::EnsureRoom.scope(), StepScope::Occurrence);
    for kind in StepKind::ALL {
        assert_eq!(StepKind::parse(kind.as_str()), Some(kind));
        assert_eq!(
            serde_json::to_value(kind).unwrap(),
            serde_json::Value::String(kind.as_str().into())
        );
    }
}

#[test]
fn create_keeps_an_empty_pre_opened_room_until_the_start() {
    let m = meeting("2026-12-01 10:00");
    let occ = only(&m);
    let steps = timeline(
        &m,
        &PlanDefaults::default(),
        &occ,
        ts("2026-11-01T00:00:00Z"),
    );
    let pre_open = steps[0].due;
    assert_eq!(
        expire_if_no_user_joined_minutes(&occ, pre_open),
        90 + JOIN_MARGIN_MINUTES
    );
    assert_eq!(
        expire_if_no_user_joined_minutes(&occ, steps[1].due),
        JOIN_MARGIN_MINUTES
    );
    // A late pre-open covers only what is left; partial minutes round up.
    assert_eq!(
        expire_if_no_user_joined_minutes(&occ, ts("2026-12-01T08:59:30Z")),
        1 + JOIN_MARGIN_MINUTES
    );
    assert_eq!(
        expire_if_no_user_joined_minutes(&occ, ts("2026-12-01T10:00:00Z")),
        JOIN_MARGIN_MINUTES
    );
}

// ------------------------------------------------------------------ recurrence and DST

/// (local wall time, UTC instant) of each occurrence.
fn local_and_utc(m: &MeetingSpec) -> Vec<(DateTime, Timestamp)> {
    all(m)
        .into_iter()
        .map(|o| (o.start.datetime(), o.start.timestamp()))
        .collect()
}

#[test]
fn weekly_meeting_keeps_its_local_time_across_spring_forward() {
    // Europe/Vienna goes from +01:00 to +02:00 on Sunday 2027-03-28.
    let m = recurring("2027-03-16 10:00", "FREQ=WEEKLY;BYDAY=TU;COUNT=4");
    assert_eq!(
        local_and_utc(&m),
        [
            (
                date(2027, 3, 16).at(10, 0, 0, 0),
                ts("2027-03-16T09:00:00Z")
            ),
            (
                date(2027, 3, 23).at(10, 0, 0, 0),
                ts("2027-03-23T09:00:00Z")
            ),
            (
                date(2027, 3, 30).at(10, 0, 0, 0),
                ts("2027-03-30T08:00:00Z")
            ),
            (date(2027, 4, 6).at(10, 0, 0, 0), ts("2027-04-06T08:00:00Z")),
        ]
    );
    // The pre-open stays 90 real minutes ahead on both sides of the change.
    let occ = all(&m);
    let defaults = PlanDefaults::default();
    let planned = ts("2027-03-01T00:00:00Z");
    let pre_open = |o: &Occurrence| timeline(&m, &defaults, o, planned)[0];
    assert_eq!(pre_open(&occ[1]).due, ts("2027-03-23T07:30:00Z"));
    assert_eq!(pre_open(&occ[2]).due, ts("2027-03-30T06:30:00Z"));
}

#[test]
fn weekly_meeting_keeps_its_local_time_across_fall_back() {
    // Europe/Vienna goes from +02:00 to +01:00 on Sunday 2026-10-25.
    let m = recurring("2026-10-13 10:00", "FREQ=WEEKLY;BYDAY=TU;COUNT=3");
    assert_eq!(
        local_and_utc(&m),
        [
            (
                date(2026, 10, 13).at(10, 0, 0, 0),
                ts("2026-10-13T08:00:00Z")
            ),
            (
                date(2026, 10, 20).at(10, 0, 0, 0),
                ts("2026-10-20T08:00:00Z")
            ),
            (
                date(2026, 10, 27).at(10, 0, 0, 0),
                ts("2026-10-27T09:00:00Z")
            ),
        ]
    );
}

#[test]
fn occurrences_on_the_change_night_itself() {
    // 02:30 does not exist on 2027-03-28: the gap moves it to 03:30 (+02:00) that day,
    // while its key keeps the nominal time.
    let spring = recurring("2027-03-21 02:30", "FREQ=WEEKLY;COUNT=3");
    let occ = all(&spring);
    assert_eq!(occ[1].key, "2027-03-28T02:30");
    assert_eq!(occ[1].start.datetime(), date(2027, 3, 28).at(3, 30, 0, 0));
    assert_eq!(occ[1].start.timestamp(), ts("2027-03-28T01:30:00Z"));
    assert_eq!(occ[2].start.datetime(), date(2027, 4, 4).at(2, 30, 0, 0));
    // 02:30 happens twice on 2026-10-25: the first one (+02:00) counts.
    let fall = recurring("2026-10-18 02:30", "FREQ=WEEKLY;COUNT=2");
    let occ = all(&fall);
    assert_eq!(occ[1].start.timestamp(), ts("2026-10-25T00:30:00Z"));
    assert_eq!(occ[1].start.offset().seconds(), 2 * 3600);
}

#[test]
fn a_meeting_zone_of_its_own_wins_over_the_default() {
    let mut m = recurring("2027-03-23 10:00", "FREQ=WEEKLY;COUNT=2");
    m.time_zone = None;
    let in_default = occurrences(&m, &vienna(), Timestamp::MIN, 5).unwrap();
    assert_eq!(in_default[1].start.timestamp(), ts("2027-03-30T08:00:00Z"));
    m.time_zone = Some("America/New_York".into());
    let own = occurrences(&m, &vienna(), Timestamp::MIN, 5).unwrap();
    assert_eq!(own[0].start.timestamp(), ts("2027-03-23T14:00:00Z"));
    m.time_zone = Some("Mars/Olympus".into());
    assert_eq!(
        occurrences(&m, &vienna(), Timestamp::MIN, 5).unwrap_err(),
        PlanError::UnknownZone("Mars/Olympus".into())
    );
}

#[test]
fn exdates_remove_occurrences_but_count_towards_count() {
    let mut m = recurring("2026-12-01 10:00", "FREQ=WEEKLY;BYDAY=TU;COUNT=5");
    m.exdate = vec![
        ExDate::Day(date(2026, 12, 8)),
        ExDate::At(date(2026, 12, 22).at(10, 0, 0, 0)),
    ];
    let occ = all(&m);
    assert_eq!(
        occ.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["2026-12-01T10:00", "2026-12-15T10:00", "2026-12-29T10:00"]
    );
    // Occurrences keep their position in the series.
    assert_eq!(occ.iter().map(|o| o.index).collect::<Vec<_>>(), [0, 2, 4]);
}

#[test]
fn count_and_until_end_the_series() {
    let count = recurring("2026-12-01 10:00", "FREQ=DAILY;COUNT=3");
    assert_eq!(
        keys(&count),
        ["2026-12-01T10:00", "2026-12-02T10:00", "2026-12-03T10:00"]
    );
    // UNTIL is inclusive; as an instant (Z) it is compared with the real start: 10:00 in
    // Vienna on 2026-12-03 is 09:00Z.
    let at_until = recurring("2026-12-01 10:00", "FREQ=DAILY;UNTIL=20261203T090000Z");
    assert_eq!(all(&at_until).len(), 3);
    let before = recurring("2026-12-01 10:00", "FREQ=DAILY;UNTIL=20261203T085959Z");
    assert_eq!(all(&before).len(), 2);
    // A date UNTIL includes that whole day, a local one is wall-clock time in the zone.
    let day = recurring("2026-12-01 10:00", "FREQ=DAILY;UNTIL=20261203");
    assert_eq!(all(&day).len(), 3);
    let local = recurring("2026-12-01 10:00", "FREQ=DAILY;UNTIL=20261203T095900");
    assert_eq!(all(&local).len(), 2);
    // The example of the brief: weekly until 2027-03-01.
    let weekly = recurring("2026-12-01 10:00", "FREQ=WEEKLY;UNTIL=20270301T000000Z");
    let occ = all(&weekly);
    assert_eq!(occ.len(), 13);
    assert_eq!(occ[12].key, "2027-02-23T10:00");
}

#[test]
fn after_and_limit_select_a_window() {
    let m = recurring("2026-12-01 10:00", "FREQ=WEEKLY");
    let next = occurrences(&m, &vienna(), ts("2026-12-08T09:00:00Z"), 2).unwrap();
    assert_eq!(
        next.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["2026-12-08T10:00", "2026-12-15T10:00"],
        "an occurrence exactly at `after` is included"
    );
    assert_eq!(next[1].index, 2);
    let later = occurrences(&m, &vienna(), ts("2026-12-08T09:00:00.001Z"), 1).unwrap();
    assert_eq!(later[0].key, "2026-12-15T10:00");
    let one_off = meeting("2026-12-01 10:00");
    assert!(
        occurrences(&one_off, &vienna(), ts("2026-12-01T09:00:01Z"), 5)
            .unwrap()
            .is_empty()
    );
    assert!(
        occurrences(&m, &vienna(), Timestamp::MIN, 0)
            .unwrap()
            .is_empty()
    );
}

// ------------------------------------------------------------------ refusals

fn rule_error(rule: &str) -> String {
    rule.parse::<schedulight::domain::meeting::Recurrence>()
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_and_unsupported_rules_are_refused_with_reasons() {
    for (rule, says) in [
        ("FREQ=HOURLY", "FREQ=HOURLY is not supported"),
        ("FREQ=WEEKLY;BYHOUR=9,11", "BYHOUR is not supported"),
        ("FREQ=WEEKLY;BYMINUTE=30", "BYMINUTE is not supported"),
        (
            "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2",
            "BYSETPOS is not supported",
        ),
        ("FREQ=YEARLY;BYWEEKNO=20", "BYWEEKNO is not supported"),
        ("FREQ=YEARLY;BYYEARDAY=100", "BYYEARDAY is not supported"),
        ("FREQ=WEEKLY;BYDAY=TUE", "not like TU or 2TU"),
        (
            "FREQ=WEEKLY;UNTIL=next-week",
            "UNTIL=next-week is not a date",
        ),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20270101", "cannot both be given"),
        ("FREQ=WEEKLY;INTERVALL=2", "did you mean INTERVAL?"),
        ("COUNT=3", "FREQ is missing"),
        ("weekly", "is not a NAME=VALUE part"),
    ] {
        let e = rule_error(rule);
        assert!(e.contains(says), "{rule}: {e}");
    }
    let json = r#"{"id":"m1","server":"bbb","meetingName":"M","recurrence":"FREQ=MINUTELY"}"#;
    let e = serde_json::from_str::<MeetingSpec>(json)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("recurrence: FREQ=MINUTELY is not supported"),
        "{e}"
    );
}

#[test]
fn definitions_that_cannot_be_planned_say_why() {
    let plan = |m: &MeetingSpec| occurrences(m, &vienna(), Timestamp::MIN, 5).unwrap_err();

    let mut no_start = recurring("2026-12-01 10:00", "FREQ=WEEKLY");
    no_start.start = None;
    assert_eq!(plan(&no_start), PlanError::RecurrenceWithoutStart);
    assert_eq!(plan(&no_start).key(), "recurrence");
    let mut one_off = meeting("2026-12-01 10:00");
    one_off.start = None;
    assert_eq!(plan(&one_off), PlanError::NoStart);

    let monday = recurring("2026-11-30 10:00", "FREQ=WEEKLY;BYDAY=TU");
    let e = plan(&monday);
    assert!(
        e.to_string()
            .contains("startDate 2026-11-30 10:00 (a Monday) is not a day of the recurrence"),
        "{e}"
    );

    let ended = recurring("2026-12-01 10:00", "FREQ=WEEKLY;UNTIL=20261201T085959Z");
    assert!(matches!(plan(&ended), PlanError::UntilBeforeStart { .. }));

    let mut skip_one_off = meeting("2026-12-01 10:00");
    skip_one_off.exdate = vec![ExDate::Day(date(2026, 12, 1))];
    assert!(matches!(
        plan(&skip_one_off),
        PlanError::ExdateWithoutRecurrence { .. }
    ));

    let mut wrong_time = recurring("2026-12-01 10:00", "FREQ=WEEKLY");
    wrong_time.exdate = vec![ExDate::At(date(2026, 12, 8).at(11, 0, 0, 0))];
    let e = plan(&wrong_time);
    assert_eq!(e.key(), "exdate");
    assert!(e.to_string().contains("write 2026-12-08 10:00"), "{e}");
    assert_eq!(plan::check_definition(&wrong_time), Err(e));

    // A day the meeting does not take place on (a Wednesday of a Tuesday series, or past
    // COUNT) would skip nothing: most likely a typo.
    let mut off_day = recurring("2026-12-01 10:00", "FREQ=WEEKLY;COUNT=3");
    for day in [date(2026, 12, 9), date(2026, 12, 22), date(2026, 11, 24)] {
        off_day.exdate = vec![ExDate::Day(day)];
        let e = plan(&off_day);
        assert!(matches!(e, PlanError::ExdateNotInSeries { .. }), "{e}");
        assert!(
            e.to_string().contains("is not a day of the recurrence"),
            "{e}"
        );
    }
    off_day.exdate = vec![ExDate::Day(date(2026, 12, 15))];
    assert_eq!(all(&off_day).len(), 2);
}

// ------------------------------------------------------------------ misfire

#[test]
fn misfire_decisions() {
    let due = ts("2026-12-01T09:00:00Z");
    let late = |mins: i64| due + SignedDuration::from_mins(mins);
    let grace = SignedDuration::from_mins(15);
    let cases = [
        // (policy, now, decision)
        (MisfirePolicy::Grace, due, Decision::Run),
        (MisfirePolicy::Grace, late(-5), Decision::Run),
        (MisfirePolicy::Grace, late(15), Decision::Run),
        (MisfirePolicy::Grace, late(16), Decision::Missed),
        (MisfirePolicy::Always, late(60 * 24), Decision::Run),
        (MisfirePolicy::Skip, due + ON_TIME_TOLERANCE, Decision::Run),
        (MisfirePolicy::Skip, late(2), Decision::Missed),
    ];
    for (policy, now, expected) in cases {
        assert_eq!(
            decide(policy, grace, due, now),
            expected,
            "{policy:?} at {now}"
        );
    }
    // Grace 0 still allows the on-time tolerance.
    assert_eq!(
        decide(MisfirePolicy::Grace, SignedDuration::ZERO, due, late(1)),
        Decision::Run
    );

    let mut m = meeting("2026-12-01 10:00");
    let defaults = Misfire::of(&m);
    assert_eq!(defaults.policy, MisfirePolicy::Grace);
    assert_eq!(
        defaults.grace,
        SignedDuration::from_mins(i64::from(DEFAULT_MISFIRE_GRACE_MINUTES))
    );
    m.misfire = Some(MisfirePolicy::Skip);
    let skip = Misfire::of(&m);
    let step = |kind| PlannedStep { kind, due };
    assert_eq!(
        skip.decide(&step(StepKind::Start), late(30)),
        Decision::Missed
    );
    // The end and setup steps always catch up.
    assert_eq!(
        skip.decide(&step(StepKind::EndAfter), late(30)),
        Decision::Run
    );
    assert_eq!(
        skip.decide(&step(StepKind::Invitations), late(30)),
        Decision::Run
    );
}

// ------------------------------------------------------------------ re-planning

#[test]
fn replan_reports_moved_steps_and_create_changes() {
    let old = meeting("2026-12-01 10:00");
    let pending = only(&old);
    let planned = ts("2026-11-20T00:00:00Z");
    let defaults = PlanDefaults::default();

    // Only the pre-open window changes.
    let mut wider = old.clone();
    wider.pre_open_minutes = Some(120);
    let r = replan(&old, &wider, &defaults, &vienna(), &pending, planned).unwrap();
    assert!(r.same_occurrence && !r.create_params_changed);
    assert_eq!(r.changes.len(), 1);
    assert_eq!(r.changes[0].kind, StepKind::PreOpen);
    assert_eq!(r.changes[0].from, Some(ts("2026-12-01T07:30:00Z")));
    assert_eq!(r.changes[0].to, Some(ts("2026-12-01T07:00:00Z")));
    // Pre-opened at 07:30, edited at 08:00: still inside the window, nothing to redo.
    assert_eq!(r.room_action(ts("2026-12-01T08:00:00Z")), RoomAction::Keep);

    // A new welcome text is a create parameter: an empty room is created again.
    let mut welcome = old.clone();
    welcome.welcome = Some("Hello".into());
    let r = replan(&old, &welcome, &defaults, &vienna(), &pending, planned).unwrap();
    assert!(r.create_params_changed && r.changes.is_empty());
    assert_eq!(
        r.room_action(ts("2026-12-01T08:00:00Z")),
        RoomAction::Recreate
    );

    // A later start moves pre-open, start and the key; a room opened early is ended.
    let later = meeting("2026-12-01 14:00");
    let r = replan(&old, &later, &defaults, &vienna(), &pending, planned).unwrap();
    assert!(!r.same_occurrence);
    assert_eq!(r.occurrence.as_ref().unwrap().key, "2026-12-01T14:00");
    assert!(r.moved(StepKind::Start) && r.moved(StepKind::PreOpen));
    assert_eq!(r.room_action(ts("2026-12-01T08:00:00Z")), RoomAction::End);
    assert_eq!(
        r.room_action(ts("2026-12-01T12:45:00Z")),
        RoomAction::Recreate
    );

    // An end time added shows as a step from nowhere.
    let mut ends = old.clone();
    ends.end_after_minutes = Some(60);
    let r = replan(&old, &ends, &defaults, &vienna(), &pending, planned).unwrap();
    assert_eq!(r.changes.len(), 1);
    assert_eq!(
        (r.changes[0].kind, r.changes[0].from, r.changes[0].to),
        (StepKind::EndAfter, None, Some(ts("2026-12-01T10:00:00Z")))
    );
}

#[test]
fn replan_of_a_skipped_occurrence_moves_to_the_next() {
    let old = recurring("2026-12-01 10:00", "FREQ=WEEKLY;COUNT=4");
    let pending = all(&old).remove(1);
    let mut skipped = old.clone();
    skipped.exdate = vec![ExDate::Day(date(2026, 12, 8))];
    let planned = ts("2026-12-08T06:00:00Z");
    let r = replan(
        &old,
        &skipped,
        &PlanDefaults::default(),
        &vienna(),
        &pending,
        planned,
    )
    .unwrap();
    assert!(!r.same_occurrence);
    assert_eq!(r.occurrence.as_ref().unwrap().key, "2026-12-15T10:00");
    assert_eq!(r.room_action(ts("2026-12-08T08:00:00Z")), RoomAction::End);

    // Cutting the series short leaves nothing to run.
    let mut shorter = old.clone();
    shorter.recurrence = Some("FREQ=WEEKLY;COUNT=1".parse().unwrap());
    let r = replan(
        &old,
        &shorter,
        &PlanDefaults::default(),
        &vienna(),
        &pending,
        planned,
    )
    .unwrap();
    assert_eq!(r.occurrence, None);
    assert!(r.steps.is_empty());
    assert!(r.changes.iter().all(|c| c.to.is_none()));
    assert_eq!(r.room_action(planned), RoomAction::End);
}

// ------------------------------------------------------------------ properties

/// A rule whose days always include `start`: BYDAY lists get the start's weekday added,
/// and monthly/yearly rules without BYDAY fall on the start's day anyway.
fn rule_for(start: DateTime, freq: &str, interval: u32, days: &[&str], end: &str) -> String {
    const CODES: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
    let own = CODES[usize::try_from(start.weekday().to_monday_zero_offset()).unwrap()];
    let mut list: Vec<&str> = days.to_vec();
    if !list.contains(&own) {
        list.push(own);
    }
    // BYDAY with YEARLY needs BYMONTH; the plain weekday list fits every other frequency.
    let by_day = if days.is_empty() || freq == "YEARLY" {
        String::new()
    } else {
        format!(";BYDAY={}", list.join(","))
    };
    format!("FREQ={freq};INTERVAL={interval}{by_day}{end}")
}

fn end_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (1u32..40).prop_map(|n| format!(";COUNT={n}")),
        (2026i16..2036).prop_map(|y| format!(";UNTIL={y}0601T000000Z")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn occurrences_increase_and_respect_after(
        freq in prop::sample::select(vec!["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
        interval in 1u32..4,
        days in prop::sample::subsequence(vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU"], 0..4),
        end in end_strategy(),
        start_day in 0i64..3000,
        hour in 0i8..24,
        minute in prop::sample::select(vec![0i8, 15, 30, 45]),
        after_days in -100i64..2000,
        limit in 0usize..60,
    ) {
        let first = date(2026, 1, 1).checked_add(jiff::Span::new().days(start_day)).unwrap();
        let start = first.at(hour, minute, 0, 0);
        let mut m = meeting("2026-01-01 00:00");
        m.start = Some(start);
        let rule = rule_for(start, freq, interval, &days, &end);
        m.recurrence = Some(rule.parse().unwrap());
        let after = start.to_zoned(vienna()).unwrap().timestamp()
            + SignedDuration::from_hours(24 * after_days);
        let occ = match occurrences(&m, &vienna(), after, limit) {
            Ok(occ) => occ,
            // An UNTIL before the generated start is refused, which is right.
            Err(PlanError::UntilBeforeStart { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("{rule}: {e}"))),
        };
        prop_assert!(occ.len() <= limit);
        for o in &occ {
            prop_assert!(o.start.timestamp() >= after);
            let nominal = DateTime::strptime("%Y-%m-%dT%H:%M", &o.key).unwrap();
            prop_assert_eq!(nominal.time(), start.time());
            // The wall-clock time is the start's, unless a DST gap moved it forward.
            let local = o.start.datetime();
            let gap = matches!(
                vienna().to_ambiguous_zoned(nominal).offset(),
                jiff::tz::AmbiguousOffset::Gap { .. }
            );
            prop_assert!(local == nominal || (gap && local == nominal + SignedDuration::from_hours(1)));
        }
        for pair in occ.windows(2) {
            prop_assert!(pair[0].start.timestamp() < pair[1].start.timestamp());
            prop_assert!(pair[0].index < pair[1].index);
            prop_assert!(pair[0].key < pair[1].key);
        }
        if let schedulight::domain::meeting::recurrence::SeriesEnd::Count(n) =
            m.recurrence.as_ref().unwrap().end()
        {
            prop_assert!(occ.iter().all(|o| o.index < n));
        }
    }
}
