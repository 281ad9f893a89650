//! Chat commands → operations, table-driven: good and bad phrasings in several time zones,
//! DST edges, ambiguities that must be asked back, and a property test that nothing panics.
//!
//! `now` is Wed 2 Dec 2026 08:00 UTC: 09:00 in Vienna, 03:00 in New York, 13:30 in Kolkata.

use proptest::prelude::*;
use schedulight::chat::{self, ChatContext, ParseError, Parsed};
use schedulight::domain::meeting::MeetingSpec;
use schedulight::domain::operation::{
    CreateRoom, CreateUser, Operation, RoomDisposition, RoomFilter, ShareRoom, UserRole,
};
use schedulight::domain::{Email, RoomRef, ServerId};
use std::collections::BTreeMap;

const NOW: &str = "2026-12-02T08:00:00Z";
const VIE: &str = "Europe/Vienna";
const NYC: &str = "America/New_York";
const KOL: &str = "Asia/Kolkata";
const UTC: &str = "UTC";

fn ctx_at(zone: &str, now: &str) -> ChatContext {
    ChatContext {
        now: now.parse().expect("test timestamp"),
        zone: jiff::tz::TimeZone::get(zone).expect("test zone"),
        actor_email: Some(email("alice@uni.example")),
        default_server: server(),
        prefix: "!bbb".into(),
    }
}

fn email(s: &str) -> Email {
    s.parse().expect("test address")
}

fn room(s: &str) -> RoomRef {
    s.parse().expect("test room")
}

fn server() -> ServerId {
    "bbb".parse().expect("test server")
}

/// One expectation about a parse result; a case lists several.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// A scheduled meeting: local start, stored zone, name.
    Sched(&'static str, &'static str, &'static str),
    Id(&'static str),
    Echo(&'static str),
    Rrule(Option<&'static str>),
    Minutes(u32),
    Invitees(&'static [&'static str]),
    InRoom(&'static str),
    /// Exactly this operation, without confirmation.
    Op(fn() -> Operation),
    /// Exactly this operation, waiting for confirmation.
    Confirmed(fn() -> Operation),
    /// A question with this many choices whose text contains the string.
    Ask(usize, &'static str),
    /// The labels of the choices start with these, in order.
    Labels(&'static [&'static str]),
    /// Local start and stored zone of each choice's meeting, in order.
    Starts(&'static [(&'static str, &'static str)]),
    /// An error whose message contains this.
    Fail(&'static str),
    Usage(&'static str),
    Dym(&'static str),
    NoDym,
    Help(&'static str),
    Zone(&'static str),
    Confirm(u32),
    Deny(u32),
}

struct Case {
    input: &'static str,
    zone: &'static str,
    now: &'static str,
    want: &'static [Want],
}

const fn case(input: &'static str, want: &'static [Want]) -> Case {
    Case {
        input,
        zone: VIE,
        now: NOW,
        want,
    }
}

const fn in_zone(zone: &'static str, input: &'static str, want: &'static [Want]) -> Case {
    Case {
        input,
        zone,
        now: NOW,
        want,
    }
}

const fn at_time(now: &'static str, input: &'static str, want: &'static [Want]) -> Case {
    Case {
        input,
        zone: VIE,
        now,
        want,
    }
}

use Want::*;

fn share_bob() -> Operation {
    Operation::ShareRoom(ShareRoom {
        server: server(),
        room: room("abc-def-ghi"),
        with: BTreeMap::from([(email("bob@uni.example"), Default::default())]),
    })
}

fn share_two() -> Operation {
    Operation::ShareRoom(ShareRoom {
        server: server(),
        room: room("abc-def-ghi"),
        with: BTreeMap::from([
            (email("bob@uni.example"), Default::default()),
            (email("carol@uni.example"), Default::default()),
        ]),
    })
}

fn unshare_bob() -> Operation {
    match share_bob() {
        Operation::ShareRoom(s) => Operation::UnshareRoom(s),
        other => other,
    }
}

fn links(filter: RoomFilter) -> Operation {
    Operation::RoomLinks {
        server: server(),
        filter,
        mail_to: None,
    }
}

fn create_room(name: &str, owner: &str) -> Operation {
    Operation::CreateRoom(CreateRoom {
        server: server(),
        name: name.into(),
        owner: email(owner),
        uid: None,
        access_code: None,
    })
}

fn delete_room(with_recordings: bool) -> Operation {
    Operation::DeleteRoom {
        server: server(),
        room: room("abc-def-ghi"),
        with_recordings,
    }
}

fn mid(s: &str) -> schedulight::domain::MeetingId {
    s.parse().expect("test meeting id")
}

const CASES: &[Case] = &[
    // --- schedule: the common forms (Vienna, now Wed 2 Dec 09:00 CET)
    case(
        "schedule meeting tomorrow 11:00",
        &[
            Sched("2026-12-03 11:00", VIE, "Meeting"),
            Id("meeting-2026-12-03-1100"),
            Echo("Thu 3 Dec 2026, 11:00 CET (Europe/Vienna)"),
            Rrule(None),
        ],
    ),
    case(
        "schedule meeting “Linear Algebra” tomorrow 11:00",
        &[
            Sched("2026-12-03 11:00", VIE, "Linear Algebra"),
            Id("linear-algebra-2026-12-03-1100"),
        ],
    ),
    case(
        "schedule meeting Linear Algebra tomorrow 11:00",
        &[Sched("2026-12-03 11:00", VIE, "Linear Algebra")],
    ),
    case(
        "schedule meeting \"Linear Algebra\" tomorrow at 11:00",
        &[Sched("2026-12-03 11:00", VIE, "Linear Algebra")],
    ),
    case(
        "Schedule Meeting Team sync friday 3pm",
        &[
            Sched("2026-12-04 15:00", VIE, "Team sync"),
            Echo("Fri 4 Dec 2026, 15:00 CET"),
        ],
    ),
    case(
        "schedule meeting friday 3 pm",
        &[Sched("2026-12-04 15:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting this friday 15:00",
        &[Sched("2026-12-04 15:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting wednesday 10:00",
        &[Sched("2026-12-02 10:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting wednesday 8:00",
        &[Sched("2026-12-09 08:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting in 2 hours",
        &[
            Sched("2026-12-02 11:00", VIE, "Meeting"),
            Echo("Wed 2 Dec 2026, 11:00 CET"),
        ],
    ),
    case(
        "schedule meeting Quick chat in 90 minutes",
        &[Sched("2026-12-02 10:30", VIE, "Quick chat")],
    ),
    case(
        "schedule meeting in 1h30",
        &[Sched("2026-12-02 10:30", VIE, "Meeting")],
    ),
    case(
        "schedule meeting in an hour",
        &[Sched("2026-12-02 10:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting Review 2026-12-03 14:00",
        &[Sched("2026-12-03 14:00", VIE, "Review")],
    ),
    case(
        "schedule meeting Review 2026-12-03T14:00",
        &[Sched("2026-12-03 14:00", VIE, "Review")],
    ),
    case(
        "schedule meeting Review 3 December 14:30",
        &[
            Sched("2026-12-03 14:30", VIE, "Review"),
            Id("review-2026-12-03-1430"),
        ],
    ),
    case(
        "schedule meeting Review 14:30 on 3 Dec",
        &[Sched("2026-12-03 14:30", VIE, "Review")],
    ),
    case(
        "schedule meeting Dec 3 2:30pm",
        &[Sched("2026-12-03 14:30", VIE, "Meeting")],
    ),
    case(
        "schedule meeting on the 3rd of December at 9am",
        &[Sched("2026-12-03 09:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting 1 December 10:00",
        &[Sched("2027-12-01 10:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting 3 March 2027 10:00",
        &[Sched("2027-03-03 10:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting Thu 3 Dec 2026 10:00",
        &[Sched("2026-12-03 10:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting 3.12.2026 9:00",
        &[Sched("2026-12-03 09:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting tomorrow 11.30",
        &[Sched("2026-12-03 11:30", VIE, "Meeting")],
    ),
    case(
        "schedule meeting tomorrow noon",
        &[Sched("2026-12-03 12:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting tomorrow 12am",
        &[Sched("2026-12-03 00:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting 3 pm tomorrow",
        &[Sched("2026-12-03 15:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting Review in 3 days at 10:00",
        &[Sched("2026-12-05 10:00", VIE, "Review")],
    ),
    case(
        "schedule meeting in 2 weeks 10:00",
        &[Sched("2026-12-16 10:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting tomorrow at 15",
        &[Sched("2026-12-03 15:00", VIE, "Meeting")],
    ),
    case(
        "schedule lecture tomorrow 10:00",
        &[Sched("2026-12-03 10:00", VIE, "lecture")],
    ),
    case(
        "schedule meeting Sprint 12 tomorrow 10:00",
        &[
            Sched("2026-12-03 10:00", VIE, "Sprint 12"),
            Id("sprint-12-2026-12-03-1000"),
        ],
    ),
    case(
        "schedule meeting ‘Übung 1’ tomorrow 11:00",
        &[
            Sched("2026-12-03 11:00", VIE, "Übung 1"),
            Id("uebung-1-2026-12-03-1100"),
        ],
    ),
    case(
        "  SCHEDULE   MEETING   tomorrow   11:00.  ",
        &[Sched("2026-12-03 11:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting “Linear Algebra” tomorrow 11:00!",
        &[Sched("2026-12-03 11:00", VIE, "Linear Algebra")],
    ),
    case(
        "schedule meeting “Q&A with students” tomorrow 10:00",
        &[Sched("2026-12-03 10:00", VIE, "Q&A with students")],
    ),
    // --- schedule: clauses
    case(
        "schedule meeting Demo tomorrow 11:00 for 90 minutes",
        &[Sched("2026-12-03 11:00", VIE, "Demo"), Minutes(90)],
    ),
    case(
        "schedule meeting Demo tomorrow 11:00 for 1h30",
        &[Minutes(90)],
    ),
    case(
        "schedule meeting Demo tomorrow 11:00 for 2 hours",
        &[Minutes(120)],
    ),
    case(
        "schedule meeting Demo tomorrow 11:00 for half an hour",
        &[Minutes(30)],
    ),
    case(
        "schedule meeting Demo tomorrow 11:00 in room abc-def-ghi",
        &[InRoom("abc-def-ghi")],
    ),
    case(
        "schedule meeting Demo tomorrow 11:00 with bob@uni.example, carol@uni.example",
        &[Invitees(&["bob@uni.example", "carol@uni.example"])],
    ),
    case(
        "schedule meeting Demo tomorrow 11:00 with Bob@Uni.Example and carol@uni.example",
        &[Invitees(&["bob@uni.example", "carol@uni.example"])],
    ),
    case(
        "schedule meeting Review next friday 3pm in room abc-def-ghi with bob@uni.example for 1 hour",
        &[
            Ask(2, "next friday"),
            Starts(&[("2026-12-04 15:00", VIE), ("2026-12-11 15:00", VIE)]),
        ],
    ),
    case(
        "schedule meeting Demo in room abc-def-ghi tomorrow 10:00",
        &[
            Sched("2026-12-03 10:00", VIE, "Demo"),
            InRoom("abc-def-ghi"),
        ],
    ),
    case(
        "schedule meeting Demo with bob@uni.example tomorrow 10:00 for 2 hours",
        &[
            Sched("2026-12-03 10:00", VIE, "Demo"),
            Invitees(&["bob@uni.example"]),
            Minutes(120),
        ],
    ),
    case(
        "schedule meeting Demo for 2 hours friday 3pm",
        &[Sched("2026-12-04 15:00", VIE, "Demo"), Minutes(120)],
    ),
    // --- schedule: series
    case(
        "schedule meeting Standup every monday 10:00",
        &[
            Sched("2026-12-07 10:00", VIE, "Standup"),
            Rrule(Some("FREQ=WEEKLY;BYDAY=MO")),
            Echo("Mon 7 Dec 2026, 10:00 CET (Europe/Vienna), then every Monday"),
        ],
    ),
    case(
        "schedule meeting Standup every monday 10:00 until 2027-02-01",
        &[
            Sched("2026-12-07 10:00", VIE, "Standup"),
            Rrule(Some("FREQ=WEEKLY;BYDAY=MO;UNTIL=20270201")),
            Echo("then every Monday until Mon 1 Feb 2027"),
        ],
    ),
    case(
        "schedule meeting Standup every monday at 10am until 1 February",
        &[Rrule(Some("FREQ=WEEKLY;BYDAY=MO;UNTIL=20270201"))],
    ),
    case(
        "schedule meeting Standup every weekday 09:30",
        &[
            Sched("2026-12-02 09:30", VIE, "Standup"),
            Rrule(Some("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR")),
        ],
    ),
    case(
        "schedule meeting Standup every weekday 08:30",
        &[Sched("2026-12-03 08:30", VIE, "Standup")],
    ),
    case(
        "schedule meeting every day 9:00",
        &[
            Sched("2026-12-03 09:00", VIE, "Meeting"),
            Rrule(Some("FREQ=DAILY")),
        ],
    ),
    case(
        "schedule meeting Seminar every 2 weeks on tuesday 14:00",
        &[
            Sched("2026-12-08 14:00", VIE, "Seminar"),
            Rrule(Some("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU")),
            Echo("every 2 weeks on Tuesday"),
        ],
    ),
    case(
        "schedule meeting Lab every tuesday and thursday 16:00",
        &[
            Sched("2026-12-03 16:00", VIE, "Lab"),
            Rrule(Some("FREQ=WEEKLY;BYDAY=TU,TH")),
        ],
    ),
    case(
        "schedule meeting Jour fixe 2027-01-04 10:00 every month",
        &[
            Sched("2027-01-04 10:00", VIE, "Jour fixe"),
            Rrule(Some("FREQ=MONTHLY")),
        ],
    ),
    case(
        "schedule meeting tomorrow 10:00 every week",
        &[
            Sched("2026-12-03 10:00", VIE, "Meeting"),
            Rrule(Some("FREQ=WEEKLY")),
        ],
    ),
    case(
        "schedule meeting tomorrow 10:00 every monday",
        &[Sched("2026-12-07 10:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting Standup every monday 10:00 for 15 minutes with bob@uni.example",
        &[
            Sched("2026-12-07 10:00", VIE, "Standup"),
            Minutes(15),
            Invitees(&["bob@uni.example"]),
        ],
    ),
    case(
        "schedule meeting every month 10:00",
        &[
            Fail("On which day"),
            Usage("!bbb schedule meeting [name] <when>"),
        ],
    ),
    case("schedule meeting every week 10:00", &[Fail("On which day")]),
    case(
        "schedule meeting every monday 10:00 until 2026-11-01",
        &[Fail("would end")],
    ),
    case(
        "schedule meeting every fortnight 10:00",
        &[Fail("don't understand the rule")],
    ),
    case("schedule meeting every monday", &[Fail("At what time")]),
    case(
        "schedule meeting tomorrow 10:00 every monday 11:00",
        &[Fail("Two different times")],
    ),
    case(
        "schedule meeting in 2 hours every monday",
        &[Fail("A series needs a day")],
    ),
    case(
        "schedule meeting every monday 10:00 until next friday",
        &[Fail("two days")],
    ),
    // --- schedule: ambiguities are asked back
    case(
        "schedule meeting next friday 3pm",
        &[
            Ask(2, "“next friday” can be Fri 4 Dec 2026 or Fri 11 Dec 2026"),
            Labels(&["Fri 4 Dec 2026, 15:00 CET", "Fri 11 Dec 2026, 15:00 CET"]),
            Starts(&[("2026-12-04 15:00", VIE), ("2026-12-11 15:00", VIE)]),
        ],
    ),
    case(
        "schedule meeting 3/4/2027 10:00",
        &[
            Ask(2, "day first"),
            Starts(&[("2027-04-03 10:00", VIE), ("2027-03-04 10:00", VIE)]),
        ],
    ),
    case(
        "schedule meeting 13/4/2027 10:00",
        &[Sched("2027-04-13 10:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting 4/4/2027 10:00",
        &[Sched("2027-04-04 10:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting tomorrow at 3",
        &[
            Ask(2, "“3” can be 03:00 or 15:00"),
            Starts(&[("2026-12-03 03:00", VIE), ("2026-12-03 15:00", VIE)]),
        ],
    ),
    case("schedule meeting tomorrow 11", &[Ask(2, "11:00 or 23:00")]),
    case(
        "schedule meeting friday at 12",
        &[
            Ask(2, "12:00 or 00:00"),
            Starts(&[("2026-12-04 12:00", VIE), ("2026-12-04 00:00", VIE)]),
        ],
    ),
    // 03:00 today has passed, so only 15:00 is left.
    case(
        "schedule meeting today at 3",
        &[Sched("2026-12-02 15:00", VIE, "Meeting")],
    ),
    case(
        "schedule meeting next friday at 3",
        &[Ask(4, "next friday")],
    ),
    // --- schedule: DST edges in Vienna
    case(
        "schedule meeting 2027-03-28 02:30",
        &[
            Ask(
                2,
                "02:30 does not exist on Sun 28 Mar 2027 in Europe/Vienna",
            ),
            Labels(&["Sun 28 Mar 2027, 01:30 CET", "Sun 28 Mar 2027, 03:30 CEST"]),
            Starts(&[("2027-03-28 01:30", VIE), ("2027-03-28 03:30", VIE)]),
        ],
    ),
    at_time(
        "2026-10-01T08:00:00Z",
        "schedule meeting Night shift 2026-10-25 02:30",
        &[
            Ask(2, "02:30 happens twice on Sun 25 Oct 2026"),
            Labels(&["Sun 25 Oct 2026, 02:30 CEST", "Sun 25 Oct 2026, 02:30 CET"]),
            Starts(&[("2026-10-25 02:30", VIE), ("2026-10-25 02:30", "Etc/GMT-1")]),
        ],
    ),
    case(
        "schedule meeting 2027-10-31 02:30",
        &[
            Ask(2, "happens twice"),
            Labels(&["Sun 31 Oct 2027, 02:30 CEST"]),
        ],
    ),
    at_time(
        "2026-10-20T08:00:00Z",
        "schedule meeting every sunday 02:30",
        &[
            Ask(1, "a series starts at the first of the two"),
            Starts(&[("2026-10-25 02:30", VIE)]),
        ],
    ),
    at_time(
        "2027-03-20T08:00:00Z",
        "schedule meeting Standup every monday 10:00",
        &[
            Sched("2027-03-22 10:00", VIE, "Standup"),
            Rrule(Some("FREQ=WEEKLY;BYDAY=MO")),
        ],
    ),
    // --- schedule: other zones
    in_zone(
        NYC,
        "schedule meeting tomorrow 11:00",
        &[
            Sched("2026-12-03 11:00", NYC, "Meeting"),
            Echo("Thu 3 Dec 2026, 11:00 EST (America/New_York)"),
        ],
    ),
    in_zone(
        NYC,
        "schedule meeting today 9am",
        &[Sched("2026-12-02 09:00", NYC, "Meeting")],
    ),
    in_zone(
        NYC,
        "schedule meeting in 90 minutes",
        &[Sched("2026-12-02 04:30", NYC, "Meeting")],
    ),
    in_zone(
        NYC,
        "schedule meeting 2027-03-14 02:30",
        &[
            Ask(2, "does not exist"),
            Labels(&["Sun 14 Mar 2027, 01:30 EST", "Sun 14 Mar 2027, 03:30 EDT"]),
        ],
    ),
    in_zone(
        NYC,
        "schedule meeting 2027-11-07 01:30",
        &[
            Ask(2, "happens twice"),
            Starts(&[("2027-11-07 01:30", NYC), ("2027-11-07 01:30", "Etc/GMT+5")]),
        ],
    ),
    in_zone(
        NYC,
        "schedule meeting 3/4/2027 10:00",
        &[Ask(2, "month first")],
    ),
    in_zone(
        KOL,
        "schedule meeting tomorrow 11:00",
        &[
            Sched("2026-12-03 11:00", KOL, "Meeting"),
            Echo("Thu 3 Dec 2026, 11:00 IST (Asia/Kolkata)"),
        ],
    ),
    in_zone(
        KOL,
        "schedule meeting today 13:00",
        &[Fail("That is in the past: Wed 2 Dec 2026, 13:00 IST")],
    ),
    in_zone(
        KOL,
        "schedule meeting in 30 minutes",
        &[Sched("2026-12-02 14:00", KOL, "Meeting")],
    ),
    in_zone(
        KOL,
        "schedule meeting Standup every monday 10:00",
        &[Sched("2026-12-07 10:00", KOL, "Standup")],
    ),
    in_zone(
        UTC,
        "schedule meeting tomorrow 11:00",
        &[
            Sched("2026-12-03 11:00", UTC, "Meeting"),
            Echo("Thu 3 Dec 2026, 11:00 UTC (UTC)"),
        ],
    ),
    in_zone(
        UTC,
        "schedule meeting 2027-03-28 02:30",
        &[Sched("2027-03-28 02:30", UTC, "Meeting")],
    ),
    // --- schedule: refusals
    case(
        "schedule meeting today 08:00",
        &[Fail("That is in the past"), Fail("tomorrow 08:00")],
    ),
    case("schedule meeting 08:00", &[Fail("in the past")]),
    case("schedule meeting yesterday 10:00", &[Fail("in the past")]),
    case("schedule meeting 2026-12-01 10:00", &[Fail("in the past")]),
    case("schedule meeting tomorrow", &[Fail("At what time")]),
    case("schedule meeting Review in 2 days", &[Fail("At what time")]),
    case(
        "schedule meeting",
        &[
            Fail("When?"),
            Usage("!bbb schedule meeting [name] <when> [for <duration>]"),
        ],
    ),
    case(
        "schedule meeting Lunch",
        &[Fail("could not find a date and time in “Lunch”")],
    ),
    case(
        "schedule meeting next week 10:00",
        &[Fail("“next week 10:00” is not a date I can read")],
    ),
    case(
        "schedule meeting Review March 10:00",
        &[Fail("“March 10:00” is not a date")],
    ),
    case(
        "schedule meeting 31 February 10:00",
        &[Fail("February has no day 31")],
    ),
    case("schedule meeting 2027-02-30 10:00", &[Fail("not a date")]),
    case(
        "schedule meeting tomorrow 25:00",
        &[Fail("not a time of day")],
    ),
    case(
        "schedule meeting Fri 3 Dec 2026 10:00",
        &[Fail("3 Dec 2026 is a Thursday, not a Friday")],
    ),
    case("schedule meeting in 0 minutes", &[Fail("That is now")]),
    case(
        "schedule meeting Demo tomorrow 11:00 for 90",
        &[Fail("not a duration")],
    ),
    case(
        "schedule meeting Demo tomorrow 11:00 for 25 hours",
        &[Fail("between 1 minute and 24 hours")],
    ),
    case(
        "schedule meeting Demo tomorrow 11:00 in room not a room",
        &[Fail("one id")],
    ),
    case(
        "schedule meeting Demo tomorrow 11:00 with @bob:uni.example",
        &[Fail("Matrix user; I need their e-mail address")],
    ),
    case(
        "schedule meeting Q&A with students tomorrow 10:00",
        &[
            Fail("name in quotes"),
            Dym("!bbb schedule meeting “Q&A with students” tomorrow 10:00"),
        ],
    ),
    case(
        "schedule meeting Meeting with Jan tomorrow 10:00 for 1 hour",
        &[Dym(
            "!bbb schedule meeting “Meeting with Jan” tomorrow 10:00 for 1 hour",
        )],
    ),
    case("schedule meeting Lunch", &[NoDym]),
    case(
        "schedule meeting Talk for beginners in room abc-def-ghi tomorrow 10:00",
        &[Dym(
            "!bbb schedule meeting “Talk for beginners” in room abc-def-ghi tomorrow 10:00",
        )],
    ),
    case(
        "schedule meeting Pub quiz tonight 8",
        &[Sched("2026-12-02 20:00", VIE, "Pub quiz")],
    ),
    case(
        "schedule meeting x tomorrow 10:00 for 1h for 2h",
        &[Fail("`for` is given twice")],
    ),
    // --- rooms and users
    case(
        "share room abc-def-ghi with bob@uni.example",
        &[Op(share_bob)],
    ),
    case(
        "share room abc-def-ghi with bob@uni.example and carol@uni.example",
        &[Op(share_two)],
    ),
    case(
        "Share Room https://gl.uni.example/b/abc-def-ghi with bob@uni.example.",
        &[Op(share_bob)],
    ),
    case(
        "share room abc-def-ghi with @bob:uni.example",
        &[
            Fail("Matrix user"),
            Usage("!bbb share room <room> with <e-mail>…"),
        ],
    ),
    case("share room abc-def-ghi", &[Fail("Write `share room")]),
    case("share room with bob@uni.example", &[Fail("Which room?")]),
    case(
        "unshare room abc-def-ghi from bob@uni.example",
        &[Op(unshare_bob)],
    ),
    case(
        "share rooom abc-def-ghi with bob@uni.example",
        &[Dym("!bbb share room abc-def-ghi with bob@uni.example")],
    ),
    case(
        "show links",
        &[Op(|| links(RoomFilter::Owner(email("alice@uni.example"))))],
    ),
    case(
        "show links for abc-def-ghi",
        &[Op(|| links(RoomFilter::Room(room("abc-def-ghi"))))],
    ),
    case(
        "show links for bob@uni.example",
        &[Op(|| links(RoomFilter::Owner(email("bob@uni.example"))))],
    ),
    case(
        "show links for meetings",
        &[Op(|| links(RoomFilter::Meetings))],
    ),
    case(
        "show links for Linear Algebra",
        &[Op(|| links(RoomFilter::Name("Linear Algebra".into())))],
    ),
    case(
        "show linsk",
        &[Dym("!bbb show links"), Fail("I don't know `show linsk`")],
    ),
    case(
        "create room Seminar",
        &[Op(|| create_room("Seminar", "alice@uni.example"))],
    ),
    case(
        "create room “Linear Algebra” for bob@uni.example",
        &[Op(|| create_room("Linear Algebra", "bob@uni.example"))],
    ),
    case("create room", &[Fail("What should the room be called?")]),
    case("create rom Seminar", &[Dym("!bbb create room Seminar")]),
    case("create", &[Fail("create what?")]),
    case(
        "rename room abc-def-ghi to Linear Algebra II",
        &[Op(|| Operation::SetRoom {
            server: server(),
            room: room("abc-def-ghi"),
            name: Some("Linear Algebra II".into()),
            options: BTreeMap::new(),
        })],
    ),
    case(
        "rename room abc-def-ghi to xyz-uvw-rst",
        &[Ask(2, "looks like a room id")],
    ),
    case(
        "rename room abc-def-ghi",
        &[
            Fail("Write `rename room"),
            Usage("!bbb rename room <room> to <name>"),
        ],
    ),
    case(
        "delete room abc-def-ghi",
        &[Confirmed(|| delete_room(false))],
    ),
    case(
        "delete room abc-def-ghi with recordings",
        &[Confirmed(|| delete_room(true))],
    ),
    case("delete room", &[Fail("Which room?")]),
    case(
        "delet room abc-def-ghi",
        &[Dym("!bbb delete room abc-def-ghi")],
    ),
    case(
        "delete user bob@uni.example",
        &[Confirmed(|| Operation::DeleteUser {
            server: server(),
            email: email("bob@uni.example"),
            rooms: RoomDisposition::Refuse,
            with_recordings: false,
        })],
    ),
    case("delete user bob", &[Fail("not an e-mail address")]),
    case(
        "create user bob@uni.example Bob Builder",
        &[Op(|| {
            Operation::CreateUser(CreateUser {
                server: server(),
                email: email("bob@uni.example"),
                full_name: "Bob Builder".into(),
                password: None,
                role: UserRole::User,
                provider: None,
                external_id: None,
            })
        })],
    ),
    case(
        "create user bob@uni.example Bob Builder password=hunter2",
        &[Fail("don't send passwords in chat")],
    ),
    case(
        "create user bob@uni.example Bob Hunter2!",
        &[Fail("don't send passwords in chat")],
    ),
    case(
        "create user bob@uni.example Bob pw: hunter2",
        &[Fail("don't send passwords in chat")],
    ),
    case(
        "create user bob@uni.example Bob password hunter2",
        &[Fail("don't send passwords in chat")],
    ),
    case("create user bob@uni.example", &[Fail("full name")]),
    case(
        "share room abc-def-ghi with bob@uni.example password=x",
        &[Fail("don't send passwords in chat")],
    ),
    // --- meetings
    case("meetings", &[Op(|| Operation::ListMeetings)]),
    case("list meetings", &[Op(|| Operation::ListMeetings)]),
    case("Meetings?", &[Op(|| Operation::ListMeetings)]),
    case("meetings please", &[Fail("takes nothing")]),
    case(
        "show meetings",
        &[Op(|| Operation::ShowRunningMeetings { server: None })],
    ),
    case(
        "show running meetings",
        &[Op(|| Operation::ShowRunningMeetings { server: None })],
    ),
    case(
        "show meetings on bbb2",
        &[Op(|| Operation::ShowRunningMeetings {
            server: Some("bbb2".parse().expect("server")),
        })],
    ),
    case(
        "status standup-2026-12-07-1000",
        &[Op(|| Operation::MeetingStatus {
            id: mid("standup-2026-12-07-1000"),
        })],
    ),
    case(
        "status meeting standup",
        &[Op(|| Operation::MeetingStatus { id: mid("standup") })],
    ),
    case(
        "status",
        &[Fail("Which meeting?"), Usage("!bbb status <meeting>")],
    ),
    case("status two words", &[Fail("one word")]),
    case(
        "cancel standup",
        &[Confirmed(|| Operation::CancelMeeting {
            id: mid("standup"),
        })],
    ),
    case(
        "cancel meeting 42",
        &[Confirmed(|| Operation::CancelMeeting { id: mid("42") })],
    ),
    case("cancel 7", &[Deny(7)]),
    case(
        "disable standup",
        &[Op(|| Operation::DisableMeeting { id: mid("standup") })],
    ),
    case(
        "enable standup",
        &[Op(|| Operation::EnableMeeting { id: mid("standup") })],
    ),
    case(
        "start standup now",
        &[Op(|| Operation::StartMeetingNow { id: mid("standup") })],
    ),
    case(
        "start standup",
        &[Op(|| Operation::StartMeetingNow { id: mid("standup") })],
    ),
    case(
        "end standup",
        &[Confirmed(|| Operation::EndMeeting { id: mid("standup") })],
    ),
    case("end", &[Usage("!bbb end <meeting>")]),
    // --- settings, answers, help, unknown input
    case("timezone Europe/Vienna", &[Zone("Europe/Vienna")]),
    case("timezone america/new_york", &[Zone("America/New_York")]),
    case("tz new york", &[Zone("America/New_York")]),
    case("timezone Kolkata", &[Zone("Asia/Kolkata")]),
    case(
        "timezone Europe/Viena",
        &[
            Fail("I don't know the time zone"),
            Dym("!bbb timezone Europe/Vienna"),
        ],
    ),
    case(
        "timezone",
        &[Fail("Which time zone?"), Usage("!bbb timezone <zone>")],
    ),
    case("confirm 12", &[Confirm(12)]),
    case("confirm #12", &[Confirm(12)]),
    case(
        "confirm twelve",
        &[Fail("not a number"), Usage("!bbb confirm <number>")],
    ),
    case("deny 3", &[Deny(3)]),
    case("help", &[Help("Commands (start with `!bbb`")]),
    case("", &[Help("`!bbb schedule meeting [name] <when>")]),
    case("help schedule", &[Help("Examples:")]),
    case(
        "help shedule",
        &[Help("Did you mean `!bbb help schedule meeting`?")],
    ),
    case(
        "shedule meeting tomorrow 11:00",
        &[
            Fail("I don't know the command “shedule”"),
            Dym("!bbb schedule meeting tomorrow 11:00"),
        ],
    ),
    case("foo bar", &[Fail("I don't know the command “foo”"), NoDym]),
];

fn check(c: &Case) {
    let ctx = ctx_at(c.zone, c.now);
    let got = chat::parse(c.input, &ctx);
    for w in c.want {
        check_one(c.input, &got, w);
    }
}

fn check_one(input: &str, got: &Result<Parsed, ParseError>, want: &Want) {
    let ctx = || format!("{input:?}: want {want:?}, got {got:#?}");
    match want {
        Sched(..) | Id(_) | Rrule(_) | Minutes(_) | Invitees(_) | InRoom(_) => {
            let spec = run_spec(got).unwrap_or_else(|| panic!("{}", ctx()));
            assert!(spec_matches(spec, want), "{}", ctx());
        }
        Echo(s) => match got {
            Ok(Parsed::Run { echo: Some(e), .. }) => assert!(e.contains(s), "{}", ctx()),
            _ => panic!("{}", ctx()),
        },
        Op(f) => assert_eq!(
            got,
            &Ok(Parsed::Run {
                op: f(),
                confirm: false,
                echo: None
            }),
            "{}",
            ctx()
        ),
        Confirmed(f) => assert_eq!(
            got,
            &Ok(Parsed::Run {
                op: f(),
                confirm: true,
                echo: None
            }),
            "{}",
            ctx()
        ),
        Ask(n, s) => match got {
            Ok(Parsed::Question { text, choices }) => {
                assert_eq!(choices.len(), *n, "{}", ctx());
                assert!(text.contains(s), "{}", ctx());
            }
            _ => panic!("{}", ctx()),
        },
        Labels(labels) => {
            let got_labels: Vec<&str> = choices(got).iter().map(|(l, _)| l.as_str()).collect();
            assert!(labels.len() <= got_labels.len(), "{}", ctx());
            for (l, g) in labels.iter().zip(&got_labels) {
                assert!(g.starts_with(l), "{}", ctx());
            }
        }
        Starts(starts) => {
            let got_starts: Vec<(String, String)> = choices(got)
                .iter()
                .map(|(_, op)| match op {
                    Operation::ScheduleMeeting { meeting } => local_start(meeting),
                    other => panic!("not a meeting: {other:?}"),
                })
                .collect();
            let want: Vec<(String, String)> = starts
                .iter()
                .map(|(s, z)| (s.to_string(), z.to_string()))
                .collect();
            assert_eq!(got_starts, want, "{}", ctx());
        }
        Fail(s) => match got {
            Err(e) => assert!(e.message.contains(s), "{}", ctx()),
            _ => panic!("{}", ctx()),
        },
        Usage(s) => match got {
            Err(e) => assert!(
                e.usage.as_deref().is_some_and(|u| u.contains(s)),
                "{}",
                ctx()
            ),
            _ => panic!("{}", ctx()),
        },
        Dym(s) => match got {
            Err(e) => assert_eq!(e.did_you_mean.as_deref(), Some(*s), "{}", ctx()),
            _ => panic!("{}", ctx()),
        },
        NoDym => assert!(
            matches!(got, Err(e) if e.did_you_mean.is_none()),
            "{}",
            ctx()
        ),
        Help(s) => match got {
            Ok(Parsed::Help { text }) => assert!(text.contains(s), "{}", ctx()),
            _ => panic!("{}", ctx()),
        },
        Zone(name) => match got {
            Ok(Parsed::SetTimeZone(tz)) => assert_eq!(tz.iana_name(), Some(*name), "{}", ctx()),
            _ => panic!("{}", ctx()),
        },
        Confirm(id) => assert_eq!(got, &Ok(Parsed::Confirm { id: *id }), "{}", ctx()),
        Deny(id) => assert_eq!(got, &Ok(Parsed::Deny { id: *id }), "{}", ctx()),
    }
}

fn run_spec(got: &Result<Parsed, ParseError>) -> Option<&MeetingSpec> {
    match got {
        Ok(Parsed::Run {
            op: Operation::ScheduleMeeting { meeting },
            confirm: false,
            ..
        }) => Some(meeting),
        _ => None,
    }
}

fn choices(got: &Result<Parsed, ParseError>) -> &[(String, Operation)] {
    match got {
        Ok(Parsed::Question { choices, .. }) => choices,
        other => panic!("not a question: {other:?}"),
    }
}

fn local_start(m: &MeetingSpec) -> (String, String) {
    let start = m
        .start
        .map(|s| s.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default();
    (start, m.time_zone.clone().unwrap_or_default())
}

fn spec_matches(spec: &MeetingSpec, want: &Want) -> bool {
    match want {
        Sched(start, zone, name) => {
            local_start(spec) == (start.to_string(), zone.to_string())
                && spec.name == *name
                && spec.server == server()
                && spec.owner.as_ref().is_some_and(|o| {
                    o.email == email("alice@uni.example") && o.full_name == "alice"
                })
        }
        Id(id) => spec.id.as_str() == *id,
        Rrule(r) => spec.recurrence.as_ref().map(|r| r.source()) == *r,
        Minutes(m) => spec.end_after_minutes == Some(*m) && spec.duration == Some(*m),
        Invitees(list) => {
            let got: Vec<&str> = spec
                .send_invitation_link
                .keys()
                .map(Email::as_str)
                .collect();
            got == *list
        }
        InRoom(r) => spec.room.as_ref().map(RoomRef::as_str) == Some(*r),
        _ => false,
    }
}

#[test]
fn phrasings() {
    assert!(CASES.len() >= 100, "only {} cases", CASES.len());
    for c in CASES {
        check(c);
    }
}

#[test]
fn weekly_series_keeps_local_time_across_dst() {
    let ctx = ctx_at(VIE, "2027-03-20T08:00:00Z");
    let got = chat::parse("schedule meeting Standup every monday 10:00", &ctx);
    let spec = run_spec(&got).expect("a meeting");
    let zone = jiff::tz::TimeZone::get(VIE).expect("zone");
    let after: jiff::Timestamp = "2027-03-20T00:00:00Z".parse().expect("ts");
    let occ = schedulight::scheduler::plan::occurrences(spec, &zone, after, 3).expect("plan");
    let local: Vec<String> = occ
        .iter()
        .map(|o| o.start.strftime("%Y-%m-%d %H:%M %Z").to_string())
        .collect();
    assert_eq!(
        local,
        [
            "2027-03-22 10:00 CET",
            "2027-03-29 10:00 CEST",
            "2027-04-05 10:00 CEST"
        ]
    );
    let utc: Vec<String> = occ
        .iter()
        .map(|o| o.start.timestamp().to_string())
        .collect();
    assert_eq!(utc[0], "2027-03-22T09:00:00Z");
    assert_eq!(utc[1], "2027-03-29T08:00:00Z");
}

#[test]
fn both_readings_of_a_repeated_hour_reach_the_scheduler_exactly() {
    let ctx = ctx_at(VIE, "2026-10-01T08:00:00Z");
    let got = chat::parse("schedule meeting 2026-10-25 02:30", &ctx);
    let zone = jiff::tz::TimeZone::get(VIE).expect("zone");
    let after: jiff::Timestamp = "2026-10-01T00:00:00Z".parse().expect("ts");
    let instants: Vec<String> = choices(&got)
        .iter()
        .map(|(_, op)| match op {
            Operation::ScheduleMeeting { meeting } => {
                let occ = schedulight::scheduler::plan::occurrences(meeting, &zone, after, 1)
                    .expect("plan");
                occ[0].start.timestamp().to_string()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(instants, ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"]);
}

#[test]
fn every_meeting_passes_the_schedulers_checks() {
    for c in CASES {
        let ctx = ctx_at(c.zone, c.now);
        let ops: Vec<Operation> = match chat::parse(c.input, &ctx) {
            Ok(Parsed::Run { op, .. }) => vec![op],
            Ok(Parsed::Question { choices, .. }) => choices.into_iter().map(|(_, o)| o).collect(),
            _ => continue,
        };
        for op in ops {
            if let Operation::ScheduleMeeting { meeting } = op {
                schedulight::scheduler::plan::check_definition(&meeting)
                    .unwrap_or_else(|e| panic!("{}: {e}", c.input));
                let back: MeetingSpec =
                    serde_json::from_value(serde_json::to_value(&*meeting).expect("serialise"))
                        .expect("deserialise");
                assert_eq!(back, *meeting, "{}", c.input);
            }
        }
    }
}

#[test]
fn parsed_answers_serialise() {
    let ctx = ctx_at(VIE, NOW);
    for input in [
        "schedule meeting tomorrow 11:00",
        "next friday 3pm",
        "timezone Asia/Kolkata",
        "confirm 3",
        "help",
        "delete room abc-def-ghi",
    ] {
        if let Ok(p) = chat::parse(input, &ctx) {
            let json = serde_json::to_value(&p).expect("serialise");
            let back: Parsed = serde_json::from_value(json).expect("deserialise");
            assert_eq!(back, p, "{input}");
        }
    }
    let tz = chat::parse("timezone Asia/Kolkata", &ctx).expect("zone");
    assert_eq!(
        serde_json::to_value(&tz).expect("json"),
        serde_json::json!({"set_time_zone": "Asia/Kolkata"})
    );
}

#[test]
fn without_a_known_address_own_rooms_need_one() {
    let mut ctx = ctx_at(VIE, NOW);
    ctx.actor_email = None;
    let e = chat::parse("create room Seminar", &ctx).expect_err("no owner");
    assert!(
        e.message.contains("don't know your Greenlight e-mail"),
        "{e}"
    );
    assert!(chat::parse("show links", &ctx).is_err());
    match chat::parse("schedule meeting tomorrow 11:00", &ctx) {
        Ok(Parsed::Run {
            op: Operation::ScheduleMeeting { meeting },
            ..
        }) => assert!(meeting.owner.is_none()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_display_usage_and_suggestion() {
    let ctx = ctx_at(VIE, NOW);
    let e = chat::parse("delet room abc-def-ghi", &ctx).expect_err("unknown");
    let text = e.to_string();
    assert!(text.contains("I don't know the command “delet”"), "{text}");
    assert!(
        text.contains("\nDid you mean: !bbb delete room abc-def-ghi"),
        "{text}"
    );
    let e = chat::parse("status", &ctx).expect_err("no id");
    assert!(
        e.to_string().contains("\nUsage: !bbb status <meeting>"),
        "{e}"
    );
}

#[test]
fn command_text_recognises_what_is_for_the_bot() {
    let bot = "@bbb:uni.example";
    let cases: &[(&str, bool, bool, Option<&str>)] = &[
        (
            "!bbb schedule meeting tomorrow 11:00",
            false,
            false,
            Some("schedule meeting tomorrow 11:00"),
        ),
        ("!BBB help", false, false, Some("help")),
        ("!bbbhelp", false, false, None),
        ("hello everyone", false, false, None),
        ("hello everyone", false, true, Some("hello everyone")),
        ("BBB Bot: meetings", true, false, Some("meetings")),
        ("BBB Bot meetings", true, false, Some("meetings")),
        ("BBB Bot: meetings", false, false, None),
        ("bbb: meetings", false, false, Some("meetings")),
        ("@bbb:uni.example: meetings", false, false, Some("meetings")),
        (
            "> <@alice:uni.example> earlier\n\n!bbb meetings",
            false,
            false,
            Some("meetings"),
        ),
        ("!bbb", false, false, Some("")),
    ];
    for (body, mentioned, direct, want) in cases {
        assert_eq!(
            chat::command_text(body, "!bbb", bot, Some("BBB Bot"), *mentioned, *direct),
            *want,
            "{body:?}"
        );
    }
}

#[test]
fn matrix_ids_are_found_for_the_bot_to_map() {
    assert_eq!(
        chat::user_ids("share room abc-def-ghi with @bob:uni.example and carol@uni.example"),
        ["@bob:uni.example"]
    );
}

#[test]
fn help_is_generated_from_the_table() {
    let all = chat::help(None, "!bbb");
    for d in chat::commands() {
        assert!(all.contains(d.usage), "{}", d.name);
    }
    assert!(chat::help(Some("delete user"), "!bbb").contains("Asks you to confirm"));
}

const VOCAB: &[&str] = &[
    "schedule",
    "meeting",
    "tomorrow",
    "today",
    "next",
    "friday",
    "at",
    "3",
    "3pm",
    "11:00",
    "in",
    "room",
    "for",
    "with",
    "every",
    "until",
    "2 hours",
    "90",
    "minutes",
    "1h30",
    "2027-03-28",
    "02:30",
    "3/4/2027",
    "december",
    "31",
    "bob@uni.example",
    "@bob:x.org",
    "“Name”",
    "\"",
    "“",
    "share",
    "unshare",
    "from",
    "abc-def-ghi",
    "show",
    "links",
    "cancel",
    "7",
    "delete",
    "user",
    "create",
    "rename",
    "to",
    "timezone",
    "Europe/Vienna",
    "help",
    "confirm",
    "deny",
    "weekday",
    "2",
    "weeks",
    "on",
    "tuesday",
    "password=x",
    "pw:",
    "!",
    ",",
    ".",
    "ü",
    "99999",
    "-1",
    "0",
    "12am",
    "noon",
    "in 0 minutes",
    "9999-12-31",
    "23:59",
];

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,120}") {
        let ctx = ctx_at(VIE, NOW);
        let _ = chat::parse(&s, &ctx);
        let _ = chat::command_text(&s, "!bbb", "@bbb:uni.example", Some("BBB Bot"), true, false);
        let _ = chat::command_text(&s, "", "@ü:x", Some("ü"), true, true);
        let _ = chat::user_ids(&s);
    }

    #[test]
    fn word_soup_never_panics_and_never_schedules_the_past(
        words in proptest::collection::vec(proptest::sample::select(VOCAB), 0..14),
        zone in proptest::sample::select(&[VIE, NYC, KOL, UTC][..]),
    ) {
        let ctx = ctx_at(zone, NOW);
        let text = words.join(" ");
        let now = ctx.now;
        let ops: Vec<Operation> = match chat::parse(&text, &ctx) {
            Ok(Parsed::Run { op, .. }) => vec![op],
            Ok(Parsed::Question { choices, .. }) => {
                prop_assert!(!choices.is_empty());
                choices.into_iter().map(|(_, o)| o).collect()
            }
            Ok(_) => Vec::new(),
            Err(e) => {
                prop_assert!(!e.message.is_empty());
                Vec::new()
            }
        };
        for op in ops {
            if let Operation::ScheduleMeeting { meeting } = op {
                let zone = jiff::tz::TimeZone::get(zone).expect("zone");
                let occ = schedulight::scheduler::plan::occurrences(&meeting, &zone, now, 1)
                    .expect("plannable");
                prop_assert!(!occ.is_empty(), "{text}: no future occurrence");
            }
        }
    }
}
