//! Words for mails: dates in English and German, a series in words, and the plain-text part
//! of an HTML-only template.

use super::Language;
use crate::domain::meeting::recurrence::{Frequency, Recurrence};
use jiff::Zoned;
use jiff::civil::Weekday;

const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const DE_DAYS: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DE_MONTHS: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

fn day_index(w: Weekday) -> usize {
    usize::try_from(w.to_monday_zero_offset()).unwrap_or(0)
}

fn month_index(z: &Zoned) -> usize {
    usize::try_from(z.month() - 1).unwrap_or(0)
}

/// The zone's IANA name, or its offset for a fixed zone.
pub(super) fn zone_name(tz: &jiff::tz::TimeZone) -> String {
    match tz.iana_name() {
        Some(name) => name.to_string(),
        None => tz.to_offset(jiff::Timestamp::now()).to_string(),
    }
}

/// "Tuesday, 1 December 2026, 10:00 CET (Europe/Vienna)" /
/// "Dienstag, 1. Dezember 2026, 10:00 Uhr CET (Europe/Vienna)".
pub(super) fn date_time(z: &Zoned, lang: Language) -> String {
    let zone = zone_name(z.time_zone());
    let abbrev = z.strftime("%Z").to_string();
    let day = day_index(z.weekday());
    let month = month_index(z);
    match lang {
        Language::En => format!(
            "{}, {} {} {}, {} {abbrev} ({zone})",
            EN_DAYS[day],
            z.day(),
            EN_MONTHS[month],
            z.year(),
            z.strftime("%H:%M"),
        ),
        Language::De => format!(
            "{}, {}. {} {}, {} Uhr {abbrev} ({zone})",
            DE_DAYS[day],
            z.day(),
            DE_MONTHS[month],
            z.year(),
            z.strftime("%H:%M"),
        ),
    }
}

/// "Tuesday, 1 December 2026" / "Dienstag, 1. Dezember 2026".
pub(super) fn date(z: &Zoned, lang: Language) -> String {
    let day = day_index(z.weekday());
    let month = month_index(z);
    match lang {
        Language::En => format!(
            "{}, {} {} {}",
            EN_DAYS[day],
            z.day(),
            EN_MONTHS[month],
            z.year()
        ),
        Language::De => format!(
            "{}, {}. {} {}",
            DE_DAYS[day],
            z.day(),
            DE_MONTHS[month],
            z.year()
        ),
    }
}

/// "11:30" / "11:30 Uhr".
pub(super) fn time_of_day(z: &Zoned, lang: Language) -> String {
    match lang {
        Language::En => z.strftime("%H:%M").to_string(),
        Language::De => format!("{} Uhr", z.strftime("%H:%M")),
    }
}

/// "every week", "every 2 weeks" / "jede Woche", "alle 2 Wochen".
pub(super) fn repeats(r: &Recurrence, lang: Language) -> String {
    let n = r.interval();
    let (en_one, en_many, de_one, de_many) = match r.freq() {
        Frequency::Daily => ("day", "days", "jeden Tag", "Tage"),
        Frequency::Weekly => ("week", "weeks", "jede Woche", "Wochen"),
        Frequency::Monthly => ("month", "months", "jeden Monat", "Monate"),
        Frequency::Yearly => ("year", "years", "jedes Jahr", "Jahre"),
    };
    match (lang, n) {
        (Language::En, 1) => format!("every {en_one}"),
        (Language::En, n) => format!("every {n} {en_many}"),
        (Language::De, 1) => de_one.to_string(),
        (Language::De, n) => format!("alle {n} {de_many}"),
    }
}

/// HTML escaping for text and attribute values.
pub(super) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The plain-text part of an HTML body: tags dropped, `<head>`/`<style>`/`<script>` skipped,
/// paragraphs and line breaks kept, links written as "text (url)", entities decoded.
pub(super) fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    let mut skip: Option<String> = None;
    let mut link: Option<(String, usize)> = None;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        if skip.is_none() {
            push_text(&mut out, &rest[..lt]);
        }
        let after = &rest[lt + 1..];
        let Some(gt) = tag_end(after) else {
            // A lone '<' is text.
            if skip.is_none() {
                push_text(&mut out, "<");
            }
            rest = after;
            continue;
        };
        let tag = Tag::parse(&after[..gt]);
        rest = &after[gt + 1..];
        if let Some(name) = &skip {
            if tag.closing && tag.name == *name {
                skip = None;
            }
            continue;
        }
        match tag.name.as_str() {
            "head" | "style" | "script" | "title" if !tag.closing && !tag.self_closing => {
                skip = Some(tag.name.clone());
            }
            "br" => out.push('\n'),
            "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" | "tr" | "ul"
            | "ol" | "section" | "blockquote" | "hr" | "body" => out.push_str("\n\n"),
            "li" if !tag.closing => out.push_str("\n- "),
            "td" | "th" if tag.closing => out.push(' '),
            "a" if !tag.closing => {
                link = tag.href.map(|h| (h, out.len()));
            }
            "a" => {
                if let Some((href, at)) = link.take() {
                    let shown = out.get(at..).unwrap_or("").trim().to_string();
                    if !href.is_empty() && shown != href {
                        out.push_str(&format!(" ({href})"));
                    }
                }
            }
            _ => {}
        }
    }
    if skip.is_none() {
        push_text(&mut out, rest);
    }
    tidy(&out)
}

/// Text between tags: entities decoded, white space runs made one space (HTML rendering).
fn push_text(out: &mut String, raw: &str) {
    let decoded = decode_entities(raw);
    for c in decoded.chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !out.ends_with([' ', '\n']) && !out.is_empty() {
                out.push(' ');
            }
        } else if c == '\u{a0}' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
}

/// Lines trimmed, at most one blank line in a row, no blank start or end.
fn tidy(s: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in s.lines().map(str::trim) {
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Where a tag ends (`>` outside quotes).
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    href: Option<String>,
}

impl Tag {
    fn parse(inner: &str) -> Self {
        let t = inner.trim();
        let closing = t.starts_with('/');
        let t = t.trim_start_matches('/');
        let self_closing = t.ends_with('/');
        let name: String = t
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect::<String>()
            .to_ascii_lowercase();
        let href = (name == "a").then(|| attribute(t, "href")).flatten();
        Self {
            name,
            closing,
            self_closing,
            href: href.map(|h| decode_entities(&h)),
        }
    }
}

/// The value of `name="…"` (or '…', or bare) in a tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(name) {
        let at = from + pos;
        from = at + name.len();
        let before_ok = at == 0 || lower[..at].ends_with(char::is_whitespace);
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_at = tag.len() - rest.len() + 1;
        let value = tag[value_at..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or("").to_string(),
            _ => value
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or("")
                .to_string(),
        });
    }
    None
}

/// Named entities the original's templates and typical mail HTML use, and numeric ones.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| entity(&after[..e]).map(|c| (c, e)));
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "laquo" => '«',
        "raquo" => '»',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "auml" => 'ä',
        "ouml" => 'ö',
        "uuml" => 'ü',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        "szlig" => 'ß',
        "euro" => '€',
        "copy" => '©',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_both_languages() {
        let z: Zoned = "2026-12-01T10:00:00+01:00[Europe/Vienna]".parse().unwrap();
        assert_eq!(
            date_time(&z, Language::En),
            "Tuesday, 1 December 2026, 10:00 CET (Europe/Vienna)"
        );
        assert_eq!(
            date_time(&z, Language::De),
            "Dienstag, 1. Dezember 2026, 10:00 Uhr CET (Europe/Vienna)"
        );
        let z: Zoned = "2026-03-29T18:15:00+02:00[Europe/Vienna]".parse().unwrap();
        assert_eq!(
            date_time(&z, Language::De),
            "Sonntag, 29. März 2026, 18:15 Uhr CEST (Europe/Vienna)"
        );
        assert_eq!(time_of_day(&z, Language::De), "18:15 Uhr");
    }

    #[test]
    fn series_in_words() {
        let r: Recurrence = "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU".parse().unwrap();
        assert_eq!(repeats(&r, Language::En), "every 2 weeks");
        assert_eq!(repeats(&r, Language::De), "alle 2 Wochen");
        let r: Recurrence = "FREQ=DAILY".parse().unwrap();
        assert_eq!(repeats(&r, Language::De), "jeden Tag");
    }

    #[test]
    fn html_becomes_text() {
        let html = "<html><head><style>h2 { color: red; }</style></head><body>\n\
                    <h2>Hallo Jürgen,</h2>\n<p>Die &ldquo;<em>Vorlesung</em>&rdquo; \
                    beginnt.</p>\nLink:</br><a href=\"https://x.example/a?b=1&amp;c=2\">hier</a>\
                    <br/><a href='https://y.example'>https://y.example</a>\n<p>Ihr&nbsp;Team\n</p></body></html>";
        assert_eq!(
            html_to_text(html),
            "Hallo Jürgen,\n\nDie “Vorlesung” beginnt.\n\nLink:\nhier \
             (https://x.example/a?b=1&c=2)\nhttps://y.example\n\nIhr Team\n"
        );
    }

    #[test]
    fn stray_brackets_and_unknown_entities_stay() {
        assert_eq!(html_to_text("a < b &foo; c"), "a < b &foo; c\n");
        assert_eq!(html_to_text("x &#252; &#xFC;"), "x ü ü\n");
    }
}
