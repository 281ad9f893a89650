//! `schedule meeting [name] <when> [for <duration>] [in room <room>] [with <e-mail>…]
//! [every <rule> [until <date>]]`.
//!
//! The clauses start at their keywords (`for`, `in room`, `with`, `every`). What comes
//! before them is the name followed by the `<when>`: the shortest tail of those words that is
//! a date phrase is the `<when>`, the rest the name. A name that contains a keyword goes in
//! quotes.

use super::error::{Fail, shown};
use super::every::{Rule, parse_every};
use super::lex::{Word, join};
use super::resolve::{self, Choice, Resolved, day_label};
use super::when::{When, parse_when};
use super::{ChatContext, Parsed, args, duration};
use crate::domain::ids::{Email, MeetingId, RoomRef};
use crate::domain::meeting::{MeetingSpec, Owner, Recipient, Recurrence};
use crate::domain::operation::Operation;
use jiff::civil::Date;
use std::collections::BTreeMap;

const CMD: &str = "schedule meeting";
const DEFAULT_NAME: &str = "Meeting";
const MAX_NAME: usize = 200;

/// The parts of the command, split at the clause keywords.
#[derive(Default)]
struct Clauses {
    lead: Vec<Word>,
    duration: Option<Vec<Word>>,
    room: Option<Vec<Word>>,
    with: Option<Vec<Word>>,
    every: Option<Vec<Word>>,
}

/// What the words say, before the date is resolved.
struct Request {
    name: String,
    when: Option<When>,
    minutes: Option<u32>,
    room: Option<RoomRef>,
    invitees: BTreeMap<Email, Recipient>,
    rule: Option<Rule>,
}

/// `words` after `schedule`.
pub(crate) fn parse(words: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let words = match words.first() {
        Some(w) if w.is_any(&["meeting", "meetings"]) => &words[1..],
        _ => words,
    };
    read(words, ctx).map_err(|f| {
        let f = f.of(CMD);
        match quoted_retry(words, ctx) {
            Some(fixed) if f.did_you_mean.is_none() => f.suggest(fixed),
            _ => f,
        }
    })
}

/// When a keyword was part of the name ("Q&A with students tomorrow 10:00"), the same
/// command with the name in quotes, if that one can be read.
fn quoted_retry(words: &[Word], ctx: &ChatContext) -> Option<String> {
    const KEYWORDS: &[&str] = &["for", "with", "in", "every"];
    if words.iter().any(|w| w.quoted) {
        return None;
    }
    let first_key = words.iter().position(|w| w.is_any(KEYWORDS))?;
    for i in first_key + 1..words.len() {
        // The date or another clause must follow the quoted name directly.
        let end = (i..words.len())
            .find(|&j| starts_clause(words, j))
            .unwrap_or(words.len());
        if end != i && parse_when(&words[i..end]).is_none() {
            continue;
        }
        let mut retry = vec![Word {
            text: join(&words[..i]),
            quoted: true,
        }];
        retry.extend_from_slice(&words[i..]);
        if read(&retry, ctx).is_ok() {
            return Some(format!(
                "{CMD} “{}” {}",
                join(&words[..i]),
                join(&words[i..])
            ));
        }
    }
    None
}

fn read(words: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let clauses = split(words)?;
    let req = request(clauses)?;
    let resolved = resolve::start_times(req.when.as_ref(), req.rule.as_ref(), ctx)?;
    let until = until_day(&req, &resolved, ctx)?;
    answer(&req, resolved, until, ctx)
}

fn split(words: &[Word]) -> Result<Clauses, Fail> {
    let mut c = Clauses::default();
    let mut current: Option<&'static str> = None;
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let key = if w.is("in") && words.get(i + 1).is_some_and(|n| n.is("room")) {
            i += 1;
            Some("in room")
        } else if w.is_any(&["for", "with", "every"]) {
            Some(keyword(w))
        } else {
            None
        };
        match key {
            Some(k) => {
                let slot = slot(&mut c, k);
                if slot.is_some() {
                    return Err(Fail::new(format!("`{k}` is given twice.")));
                }
                *slot = Some(Vec::new());
                current = Some(k);
            }
            None => match current {
                Some(k) => slot(&mut c, k).get_or_insert_with(Vec::new).push(w.clone()),
                None => c.lead.push(w.clone()),
            },
        }
        i += 1;
    }
    Ok(c)
}

fn starts_clause(words: &[Word], i: usize) -> bool {
    words[i].is_any(&["for", "with", "every"])
        || (words[i].is("in") && words.get(i + 1).is_some_and(|n| n.is("room")))
}

fn keyword(w: &Word) -> &'static str {
    if w.is("for") {
        "for"
    } else if w.is("with") {
        "with"
    } else {
        "every"
    }
}

fn slot<'c>(c: &'c mut Clauses, key: &str) -> &'c mut Option<Vec<Word>> {
    match key {
        "for" => &mut c.duration,
        "in room" => &mut c.room,
        "with" => &mut c.with,
        _ => &mut c.every,
    }
}

fn request(mut c: Clauses) -> Result<Request, Fail> {
    let rule = c.every.as_deref().map(parse_every).transpose()?;
    let (name, when) = name_and_when(&mut c, rule.is_some())?;
    let minutes = c.duration.as_deref().map(duration::minutes).transpose()?;
    let room = c.room.as_deref().map(args::one_room).transpose()?;
    let invitees = match c.with.as_deref() {
        Some(w) => args::emails(w).map_err(quote_hint)?,
        None => BTreeMap::new(),
    };
    Ok(Request {
        name,
        when,
        minutes,
        room,
        invitees,
        rule,
    })
}

/// An address list that is not one often means "with" belonged to the name.
fn quote_hint(f: Fail) -> Fail {
    let msg = format!(
        "{} If “with” is part of the name, put the name in quotes.",
        f.message
    );
    Fail { message: msg, ..f }
}

/// The shortest tail of the words before the clauses that is a `<when>`, and the name before
/// it. Else the `<when>` may end a clause ("in room abc-def-ghi tomorrow 10:00"), or, with
/// an `every` clause, be missing (the clause has the time).
fn name_and_when(c: &mut Clauses, has_rule: bool) -> Result<(String, Option<When>), Fail> {
    let found = (0..c.lead.len()).find_map(|i| parse_when(&c.lead[i..]).map(|w| (i, w)));
    let (split, when) = match found {
        Some((i, w)) => (i, Some(w)),
        None => match late_when(c) {
            Some(w) => (c.lead.len(), Some(w)),
            None if has_rule => (c.lead.len(), None),
            None => return Err(no_when(&c.lead)),
        },
    };
    let name_words = &c.lead[..split];
    let date_words = name_words
        .iter()
        .rev()
        .take_while(|w| is_date_word(w))
        .count();
    if date_words > 0 {
        return Err(unclear_name(&c.lead[split - date_words..]));
    }
    Ok((name(name_words)?, when))
}

/// A `<when>` at the end of the room, invitee or duration clause, taken out of it.
fn late_when(c: &mut Clauses) -> Option<When> {
    for slot in [&mut c.room, &mut c.with, &mut c.duration] {
        let Some(words) = slot else { continue };
        let found = (1..words.len()).find_map(|k| parse_when(&words[k..]).map(|w| (k, w)));
        if let Some((k, w)) = found {
            words.truncate(k);
            return Some(w);
        }
    }
    None
}

/// Words that belong to a date phrase rather than a name ("next week 10:00" must not become
/// a meeting called "next week" today at 10:00).
fn is_date_word(w: &Word) -> bool {
    const WORDS: &[&str] = &[
        "next",
        "this",
        "coming",
        "last",
        "at",
        "on",
        "in",
        "of",
        "week",
        "weeks",
        "month",
        "months",
        "year",
        "day",
        "days",
        "today",
        "tomorrow",
        "yesterday",
        "tonight",
        "morning",
        "afternoon",
        "evening",
        "am",
        "pm",
        "from",
        "starting",
        "until",
    ];
    let lower = w.lower();
    let month = lower.len() >= 3 && MONTHS.iter().any(|m| m.starts_with(&lower));
    !w.quoted && (w.is_any(WORDS) || super::when::weekday(&lower).is_some() || month)
}

const MONTHS: &[&str] = &[
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

fn unclear_name(phrase: &[Word]) -> Fail {
    Fail::new(format!(
        "{} is not a date I can read. Write the date like `tomorrow 11:00`, \
         `next friday 3pm` or `2026-12-03 14:00`; put a name in quotes.",
        shown(&join(phrase))
    ))
}

fn no_when(lead: &[Word]) -> Fail {
    let what = if lead.is_empty() {
        "When? Give a date and time".to_string()
    } else {
        format!("I could not find a date and time in {}", shown(&join(lead)))
    };
    Fail::new(format!(
        "{what}, e.g. `tomorrow 11:00`, `next friday 3pm`, `in 2 hours` or \
         `2026-12-03 14:00`. Put the name in quotes when it contains `for`, `with`, \
         `in room` or `every`."
    ))
}

fn name(words: &[Word]) -> Result<String, Fail> {
    let name = join(words);
    let name = name.trim();
    if name.chars().count() > MAX_NAME {
        return Err(Fail::new(format!(
            "The name is longer than {MAX_NAME} characters."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Fail::new("The name has control characters."));
    }
    Ok(if name.is_empty() { DEFAULT_NAME } else { name }.to_string())
}

/// The last day of a series (`until`), checked against its first meeting.
fn until_day(req: &Request, resolved: &Resolved, ctx: &ChatContext) -> Result<Option<Date>, Fail> {
    let Some(spec) = req.rule.as_ref().and_then(|r| r.until.as_ref()) else {
        return Ok(None);
    };
    let first = resolved
        .choices
        .iter()
        .map(|c| c.start.date())
        .min()
        .unwrap_or(ctx.now.to_zoned(ctx.zone.clone()).date());
    let until = resolve::day(spec, first, ctx)?;
    if until < first {
        return Err(Fail::new(format!(
            "The series would end ({}) before its first meeting ({}).",
            day_label(until),
            day_label(first)
        )));
    }
    Ok(Some(until))
}

fn answer(
    req: &Request,
    resolved: Resolved,
    until: Option<Date>,
    ctx: &ChatContext,
) -> Result<Parsed, Fail> {
    let mut choices = Vec::new();
    for c in &resolved.choices {
        choices.push((echo(req, c, until), operation(req, c, until, ctx)?));
    }
    if !resolved.ask && choices.len() == 1 {
        let (echo, op) = choices.remove(0);
        return Ok(Parsed::Run {
            op,
            confirm: false,
            echo: Some(echo),
        });
    }
    Ok(Parsed::Question {
        text: question(&resolved.reasons),
        choices,
    })
}

fn question(reasons: &[String]) -> String {
    let mut text = reasons.join("; ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    format!("{text}. Which one do you mean?")
}

/// "Thu 3 Dec 2026, 11:00 CET (Europe/Vienna)", with the series when there is one.
fn echo(req: &Request, c: &Choice, until: Option<Date>) -> String {
    let mut out = c.label();
    if let Some(rule) = &req.rule {
        out.push_str(&format!(", then {}", rule.describe()));
        if let Some(u) = until {
            out.push_str(&format!(" until {}", day_label(u)));
        }
    }
    out
}

fn operation(
    req: &Request,
    c: &Choice,
    until: Option<Date>,
    ctx: &ChatContext,
) -> Result<Operation, Fail> {
    let mut spec = MeetingSpec::new(
        meeting_id(&req.name, c)?,
        ctx.default_server.clone(),
        &req.name,
    );
    spec.start = Some(c.start);
    spec.time_zone = Some(c.zone_name.clone());
    spec.owner = ctx.actor_email.clone().map(owner);
    spec.end_after_minutes = req.minutes;
    spec.duration = req.minutes;
    spec.room = req.room.clone();
    spec.send_invitation_link = req.invitees.clone();
    spec.recurrence = match &req.rule {
        Some(rule) => Some(recurrence(rule, until)?),
        None => None,
    };
    Ok(Operation::ScheduleMeeting {
        meeting: Box::new(spec),
    })
}

fn owner(email: Email) -> Owner {
    Owner {
        full_name: email.local_part().to_string(),
        email,
        password: None,
        uid: None,
        social_uid: None,
    }
}

fn recurrence(rule: &Rule, until: Option<Date>) -> Result<Recurrence, Fail> {
    rule.rrule(until)
        .parse::<Recurrence>()
        .map_err(|e| Fail::new(format!("That rule cannot be scheduled: {e}.")))
}

/// `linear-algebra-2026-12-03-1100`: the name as a slug plus the local start.
fn meeting_id(name: &str, c: &Choice) -> Result<MeetingId, Fail> {
    let id = format!("{}-{}", slug(name), c.start.strftime("%Y-%m-%d-%H%M"));
    id.parse::<MeetingId>()
        .map_err(|e| Fail::new(format!("Cannot make a meeting id: {}.", e.reason)))
}

/// Lower-case ASCII letters and digits joined by single dashes, at most 60 characters.
pub(crate) fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        match transliterate(c) {
            Some(s) => out.push_str(s),
            None if c.is_ascii_alphanumeric() => out.push(c),
            None if !out.ends_with('-') => out.push('-'),
            None => {}
        }
    }
    let cut: String = out.trim_matches('-').chars().take(60).collect();
    let cut = cut.trim_end_matches('-');
    if cut.is_empty() {
        "meeting".to_string()
    } else {
        cut.to_string()
    }
}

/// Common Latin letters with accents, so "Übung" becomes "uebung", not "bung".
fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'ä' => "ae",
        'ö' => "oe",
        'ü' => "ue",
        'ß' => "ss",
        'à' | 'á' | 'â' | 'ã' | 'å' | 'ā' => "a",
        'æ' => "ae",
        'ç' | 'č' | 'ć' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ě' | 'ę' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ø' => "o",
        'ù' | 'ú' | 'û' | 'ů' => "u",
        'ý' | 'ÿ' => "y",
        'š' | 'ś' => "s",
        'ž' | 'ź' | 'ż' => "z",
        'ł' => "l",
        'ř' => "r",
        'đ' | 'ď' => "d",
        'ť' => "t",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Linear Algebra"), "linear-algebra");
        assert_eq!(slug("Übung: Maß & Zahl!"), "uebung-mass-zahl");
        assert_eq!(slug("  --  "), "meeting");
        assert_eq!(slug("会議"), "meeting");
        assert_eq!(slug(&"ab ".repeat(50)).len(), 59);
    }

    #[test]
    fn clauses_split_at_keywords() {
        let w = crate::chat::lex::words(
            "Demo tomorrow 11:00 for 2 hours in room abc-def-ghi with a@b.org every monday",
        );
        let c = split(&w).unwrap();
        assert_eq!(join(&c.lead), "Demo tomorrow 11:00");
        assert_eq!(join(c.duration.as_deref().unwrap()), "2 hours");
        assert_eq!(join(c.room.as_deref().unwrap()), "abc-def-ghi");
        assert_eq!(join(c.with.as_deref().unwrap()), "a@b.org");
        assert_eq!(join(c.every.as_deref().unwrap()), "monday");
        let twice = split(&crate::chat::lex::words("x for 1h for 2h"))
            .err()
            .unwrap();
        assert!(twice.message.contains("twice"));
    }
}
