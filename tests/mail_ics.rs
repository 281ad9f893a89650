//! The calendar parts of invitations and cancellations, read back by an independent parser
//! (Python's `icalendar` in the pinned test venv, with dateutil expanding the RRULE): UID,
//! SEQUENCE, METHOD, STATUS, DTSTART in its zone across DST, RRULE and EXDATE (the expansion
//! must equal our scheduler's occurrences), the VTIMEZONE's offsets, folding and escaping.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use schedulight::domain::MeetingSpec;
use schedulight::mail::ics::{self, IcsError};
use schedulight::mail::{CalendarMethod, CalendarPart, Mailbox};
use schedulight::scheduler::plan;
use serde_json::Value;

const LINK: &str = "https://gl.uni.example/rooms/abc-def-ghi/join";

fn mailbox(name: Option<&str>, email: &str) -> Mailbox {
    Mailbox {
        name: name.map(str::to_string),
        email: email.parse().unwrap(),
    }
}

fn organizer() -> Mailbox {
    mailbox(Some("Prof. Jürgen Müller"), "lectures@uni.example")
}

fn attendee() -> Mailbox {
    mailbox(Some("Zoë Ångström"), "zoe@students.uni.example")
}

fn now() -> Timestamp {
    "2027-03-01T08:30:00Z".parse().unwrap()
}

/// A weekly lecture in Vienna that crosses the start of summer time (28 March 2027).
fn lecture() -> MeetingSpec {
    let json = r#"{"id":"lecture","server":"bbb","meetingName":"Algebra, Part 1; Groups",
        "startDate":"2027-03-16 18:15","timeZone":"Europe/Vienna","endAfterMinutes":90,
        "recurrence":"rrule:freq=weekly;byday=tu;count=4","exdate":["2027-03-23"]}"#;
    serde_json::from_str(json).unwrap()
}

/// Parse `part` with Python's icalendar; `samples` are local times to look up in its
/// VTIMEZONE.
fn read_back(part: &CalendarPart, samples: &[&str]) -> Value {
    check_lines(&part.ics);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("invite.ics");
    std::fs::write(&file, &part.ics).unwrap();
    let venv = schedulight::testkit::python::test_venv().expect("python test venv");
    let script = schedulight::testkit::python::manifest_dir().join("tests/third_party/ics_read.py");
    let out = std::process::Command::new(venv.python())
        .arg(script)
        .arg(&file)
        .args(samples)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "icalendar could not read:\n{}\n{}",
        part.ics,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// CRLF everywhere, no line over 75 octets.
fn check_lines(ics: &str) {
    assert!(ics.ends_with("\r\n"));
    let body = &ics[..ics.len() - 2];
    for line in body.split("\r\n") {
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "bare line break in {line:?}"
        );
        assert!(line.len() <= 75, "{line:?} has {} octets", line.len());
    }
}

fn utc(s: &str) -> String {
    s.parse::<Timestamp>()
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

#[test]
fn series_invitation_reads_back_with_zone_rule_and_exdate() {
    let spec = lecture();
    let part =
        ics::invitation(&spec, None, 3, &organizer(), &attendee(), Some(LINK), now()).unwrap();
    assert_eq!(part.method, CalendarMethod::Request);
    let got = read_back(
        &part,
        &[
            "2027-01-15T12:00:00",
            "2027-03-28T01:59:00",
            "2027-03-28T03:00:00",
            "2027-07-15T12:00:00",
            "2027-10-31T01:59:00",
            "2027-10-31T03:00:00",
        ],
    );
    assert_eq!(got["method"], "REQUEST");
    assert_eq!(got["version"], "2.0");
    let ev = &got["events"][0];
    assert_eq!(got["events"].as_array().unwrap().len(), 1);
    assert_eq!(ev["uid"], "lecture@uni.example");
    assert_eq!(ev["sequence"], 3);
    assert_eq!(ev["status"], "CONFIRMED");
    assert_eq!(ev["summary"], "Algebra, Part 1; Groups");
    assert_eq!(ev["description"], LINK);
    assert_eq!(ev["url"], LINK);
    assert_eq!(ev["dtstamp"], "2027-03-01T08:30:00+00:00");
    assert_eq!(ev["dtstart"]["tzid"], "Europe/Vienna");
    assert_eq!(ev["dtstart"]["local"], "2027-03-16T18:15:00");
    assert_eq!(ev["dtstart"]["offset"], 3600);
    assert_eq!(ev["dtend"]["local"], "2027-03-16T19:45:00");
    assert_eq!(ev["rrule"], "FREQ=WEEKLY;COUNT=4;BYDAY=TU;WKST=MO");
    assert_eq!(ev["exdates"], serde_json::json!(["2027-03-23T18:15:00"]));
    assert!(ev["recurrence_id"].is_null());
    assert_eq!(ev["organizer"]["value"], "mailto:lectures@uni.example");
    assert_eq!(ev["organizer"]["cn"], "Prof. Jürgen Müller");
    assert_eq!(
        ev["attendees"][0]["value"],
        "mailto:zoe@students.uni.example"
    );
    assert_eq!(ev["attendees"][0]["cn"], "Zoë Ångström");

    // dateutil's expansion of RRULE + EXDATE equals the scheduler's occurrences: 18:15 local
    // on both sides of the DST change (17:15 UTC, then 16:15 UTC).
    let expanded: Vec<String> = serde_json::from_value(ev["occurrences"].clone()).unwrap();
    let ours: Vec<String> = plan::occurrences(&spec, &TimeZone::UTC, now(), 100)
        .unwrap()
        .iter()
        .map(|o| utc(&o.start.timestamp().to_string()))
        .collect();
    assert_eq!(
        expanded,
        [
            "2027-03-16T17:15:00+00:00",
            "2027-03-30T16:15:00+00:00",
            "2027-04-06T16:15:00+00:00"
        ]
    );
    assert_eq!(expanded, ours);

    // The VTIMEZONE itself (icalendar's to_tz, not the system's zone data).
    let tz = &got["timezones"][0];
    assert_eq!(tz["tzid"], "Europe/Vienna");
    assert!(tz["standard"].as_u64().unwrap() >= 1 && tz["daylight"].as_u64().unwrap() >= 1);
    let off = &tz["offsets"];
    assert_eq!(off["2027-01-15T12:00:00"], 3600);
    assert_eq!(off["2027-03-28T01:59:00"], 3600);
    assert_eq!(off["2027-03-28T03:00:00"], 7200);
    assert_eq!(off["2027-07-15T12:00:00"], 7200);
    assert_eq!(off["2027-10-31T03:00:00"], 3600);
}

#[test]
fn one_occurrence_is_cancelled_by_recurrence_id() {
    let spec = lecture();
    let part = ics::cancellation(
        &spec,
        Some("2027-03-30T18:15"),
        4,
        &organizer(),
        &attendee(),
        Some(LINK),
        now(),
    )
    .unwrap();
    assert_eq!(part.method, CalendarMethod::Cancel);
    let got = read_back(&part, &["2027-03-30T18:15:00"]);
    assert_eq!(got["method"], "CANCEL");
    let ev = &got["events"][0];
    assert_eq!(ev["uid"], "lecture@uni.example", "same UID as the series");
    assert_eq!(ev["sequence"], 4);
    assert_eq!(ev["status"], "CANCELLED");
    assert_eq!(ev["recurrence_id"]["local"], "2027-03-30T18:15:00");
    assert_eq!(ev["recurrence_id"]["tzid"], "Europe/Vienna");
    assert_eq!(ev["dtstart"]["local"], "2027-03-30T18:15:00");
    assert_eq!(ev["dtstart"]["offset"], 7200, "summer time by then");
    assert!(ev["rrule"].is_null());
    assert_eq!(got["timezones"][0]["offsets"]["2027-03-30T18:15:00"], 7200);

    // The whole series: same UID, no RECURRENCE-ID, the rule kept.
    let all = ics::cancellation(&spec, None, 5, &organizer(), &attendee(), None, now()).unwrap();
    let got = read_back(&all, &[]);
    let ev = &got["events"][0];
    assert_eq!(ev["uid"], "lecture@uni.example");
    assert_eq!(ev["status"], "CANCELLED");
    assert!(ev["recurrence_id"].is_null());
    assert!(ev["rrule"].as_str().unwrap().starts_with("FREQ=WEEKLY"));
    assert!(ev["url"].is_null());
}

#[test]
fn one_off_meeting_after_the_autumn_change() {
    let json = r#"{"id":"exam","server":"bbb","meetingName":"Exam","startDate":"2027-10-31 10:00",
        "timeZone":"Europe/Vienna","duration":120}"#;
    let spec: MeetingSpec = serde_json::from_str(json).unwrap();
    // A one-off meeting has no series: an occurrence key does not add RECURRENCE-ID.
    let part = ics::invitation(
        &spec,
        Some("2027-10-31T10:00"),
        0,
        &organizer(),
        &mailbox(None, "guest@uni.example"),
        Some(LINK),
        now(),
    )
    .unwrap();
    let got = read_back(&part, &["2027-10-31T10:00:00"]);
    let ev = &got["events"][0];
    assert_eq!(ev["dtstart"]["utc"], "2027-10-31T09:00:00+00:00");
    assert_eq!(ev["dtend"]["local"], "2027-10-31T12:00:00");
    assert!(ev["recurrence_id"].is_null() && ev["rrule"].is_null());
    assert!(ev["occurrences"].is_null());
    assert!(ev["attendees"][0]["cn"].is_null());
    assert_eq!(got["timezones"][0]["offsets"]["2027-10-31T10:00:00"], 3600);
}

#[test]
fn until_rule_is_written_in_utc_and_expands_like_the_scheduler() {
    let json = r#"{"id":"seminar","server":"bbb","meetingName":"Seminar",
        "startDate":"2027-03-02 09:00","timeZone":"Europe/Vienna",
        "recurrence":"FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;UNTIL=20270420",
        "exdate":["2027-03-18 09:00"]}"#;
    let spec: MeetingSpec = serde_json::from_str(json).unwrap();
    let part = ics::invitation(&spec, None, 1, &organizer(), &attendee(), None, now()).unwrap();
    let got = read_back(&part, &[]);
    let ev = &got["events"][0];
    // The whole of 20 April in Vienna (summer time): until 21:59:59 UTC.
    assert!(
        part.ics.contains(
            "\r\nRRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20270420T215959Z;BYDAY=TU,TH;WKST=MO\r\n"
        ),
        "{}",
        part.ics
    );
    assert!(
        ev["rrule"]
            .as_str()
            .unwrap()
            .contains("UNTIL=20270420T215959Z")
    );
    let expanded: Vec<String> = serde_json::from_value(ev["occurrences"].clone()).unwrap();
    let ours: Vec<String> = plan::occurrences(&spec, &TimeZone::UTC, now(), 100)
        .unwrap()
        .iter()
        .map(|o| utc(&o.start.timestamp().to_string()))
        .collect();
    assert_eq!(expanded, ours);
    assert_eq!(expanded.len(), 7, "{expanded:?}");
}

#[test]
fn endless_monthly_series_keeps_its_zone_rules_open() {
    let json = r#"{"id":"board","server":"bbb","meetingName":"Board",
        "startDate":"2027-01-29 14:00","timeZone":"Europe/Vienna",
        "recurrence":"FREQ=MONTHLY;BYDAY=-1FR"}"#;
    let spec: MeetingSpec = serde_json::from_str(json).unwrap();
    let part = ics::invitation(&spec, None, 0, &organizer(), &attendee(), None, now()).unwrap();
    let got = read_back(&part, &["2045-07-01T12:00:00", "2045-12-01T12:00:00"]);
    let ev = &got["events"][0];
    assert_eq!(ev["rrule"], "FREQ=MONTHLY;BYDAY=-1FR");
    let off = &got["timezones"][0]["offsets"];
    assert_eq!(off["2045-07-01T12:00:00"], 7200, "the yearly rule goes on");
    assert_eq!(off["2045-12-01T12:00:00"], 3600);
    let expanded: Vec<String> = serde_json::from_value(ev["occurrences"].clone()).unwrap();
    let first: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
    let ours: Vec<String> = plan::occurrences(&spec, &TimeZone::UTC, first, 30)
        .unwrap()
        .iter()
        .map(|o| utc(&o.start.timestamp().to_string()))
        .collect();
    assert_eq!(expanded[..30], ours[..]);
}

#[test]
fn text_is_escaped_and_long_lines_folded() {
    let mut spec = lecture();
    spec.name = "Ünïcödé, \"quoted\"; back\\slash\nand a second line — ".repeat(4);
    let part = ics::invitation(
        &spec,
        None,
        0,
        &mailbox(Some("O'Brien, \"Pat\""), "pat@uni.example"),
        &attendee(),
        Some(LINK),
        now(),
    )
    .unwrap();
    assert!(part.ics.contains("\\,") && part.ics.contains("\\;") && part.ics.contains("\\\\"));
    assert!(part.ics.contains("\r\n "), "the summary is folded");
    let got = read_back(&part, &[]);
    let ev = &got["events"][0];
    assert_eq!(ev["summary"], spec.name);
    // A parameter value cannot hold a double quote: it becomes a single one.
    assert_eq!(ev["organizer"]["cn"], "O'Brien, 'Pat'");
}

#[test]
fn unfolding_and_unescaping_unit() {
    // Folding: 75 octets, continuation lines start with a space, UTF-8 never split.
    let line = format!("SUMMARY:{}", "€".repeat(40));
    let folded = ics::fold(&line);
    assert!(folded.split("\r\n").all(|l| l.len() <= 75));
    assert_eq!(folded.replace("\r\n ", ""), line);
    // Escaping: backslash first, then ; , and line breaks.
    assert_eq!(ics::escape_text("a\\;b,c\r\nd"), "a\\\\\\;b\\,c\\nd");
}

#[test]
fn errors_name_the_meeting() {
    let mut spec = lecture();
    spec.start = None;
    let err = ics::invitation(&spec, None, 0, &organizer(), &attendee(), None, now()).unwrap_err();
    assert_eq!(err, IcsError::NoStart("lecture".into()));
    assert!(err.to_string().contains("no startDate"));

    let mut spec = lecture();
    spec.time_zone = Some("Mars/Olympus".into());
    let err = ics::invitation(&spec, None, 0, &organizer(), &attendee(), None, now()).unwrap_err();
    assert!(matches!(err, IcsError::UnknownZone { .. }), "{err}");

    let err = ics::cancellation(
        &lecture(),
        Some("next tuesday"),
        0,
        &organizer(),
        &attendee(),
        None,
        now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("2026-12-01T10:00"), "{err}");
}

#[test]
fn uid_is_stable_across_changes() {
    let mut spec = lecture();
    let a = ics::invitation(&spec, None, 0, &organizer(), &attendee(), None, now()).unwrap();
    spec.start = Some(jiff::civil::date(2027, 3, 17).at(10, 0, 0, 0));
    let b = ics::invitation(&spec, None, 1, &organizer(), &attendee(), None, now()).unwrap();
    let uid = |p: &CalendarPart| {
        p.ics
            .lines()
            .find_map(|l| l.strip_prefix("UID:").map(str::to_string))
    };
    assert_eq!(uid(&a), Some("lecture@uni.example".into()));
    assert_eq!(uid(&a), uid(&b));
    assert!(b.ics.contains("SEQUENCE:1\r\n"));
}
