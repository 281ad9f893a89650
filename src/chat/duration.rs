//! `for <duration>`: "90 minutes", "1h30", "2 hours", "1.5 hours", "an hour", "half an
//! hour", "1 hour 30 minutes", "1:30".

use super::error::{Fail, shown};
use super::lex::{Word, join};

/// The longest meeting we schedule from chat.
const MAX_MINUTES: u32 = 24 * 60;

/// The duration in minutes, 1 to 24 hours.
pub(crate) fn minutes(words: &[Word]) -> Result<u32, Fail> {
    let typed = join(words);
    let text = normalise(words);
    let total = scan(&text).ok_or_else(|| {
        Fail::new(format!(
            "{} is not a duration; write e.g. `for 90 minutes`, `for 1h30` or `for 2 hours`.",
            shown(&typed)
        ))
    })?;
    match u32::try_from(total) {
        Ok(m) if (1..=MAX_MINUTES).contains(&m) => Ok(m),
        _ => Err(Fail::new(format!(
            "{} is not between 1 minute and 24 hours.",
            shown(&typed)
        ))),
    }
}

/// One lower-case string without spaces: "an hour" → "1h", "half an hour" → "30m".
fn normalise(words: &[Word]) -> String {
    let text = words
        .iter()
        .map(|w| w.lower())
        .filter(|w| w != "and")
        .collect::<Vec<_>>()
        .join(" ");
    let text = text
        .replace("half an hour", "30m")
        .replace("half hour", "30m")
        .replace("an hour", "1h")
        .replace("a hour", "1h");
    text.split_whitespace().collect()
}

/// Sums `<number><unit>` terms; a number right after hours is minutes ("1h30").
fn scan(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    if let Some(m) = clock(text) {
        return Some(m);
    }
    let mut rest = text;
    let mut total = 0.0_f64;
    let mut after_hours = false;
    while !rest.is_empty() {
        let n_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .unwrap_or(rest.len());
        let number: f64 = rest.get(..n_len)?.replace(',', ".").parse().ok()?;
        rest = &rest[n_len..];
        let u_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..u_len];
        rest = &rest[u_len..];
        let per = match unit {
            "h" | "hr" | "hrs" | "hour" | "hours" => 60.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 1.0,
            "" if after_hours && rest.is_empty() => 1.0,
            _ => return None,
        };
        after_hours = per == 60.0;
        total += number * per;
    }
    let rounded = total.round();
    // Fractions of a minute ("1.51 hours") are a typo, not a wish.
    ((total - rounded).abs() < 1e-6 && total.is_finite() && total < 1e7).then_some(rounded as i64)
}

/// `1:30` → 90.
fn clock(text: &str) -> Option<i64> {
    let (h, m) = text.split_once(':')?;
    let h: i64 = h.parse().ok()?;
    let m: i64 = m.parse().ok().filter(|m| (0..60).contains(m))?;
    (text.len() <= 5).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::lex::words;

    fn mins(s: &str) -> Result<u32, String> {
        minutes(&words(s)).map_err(|e| e.message)
    }

    #[test]
    fn forms() {
        for (s, m) in [
            ("90 minutes", 90),
            ("90min", 90),
            ("1h30", 90),
            ("1h 30m", 90),
            ("1 hour 30 minutes", 90),
            ("1 hour and 30 minutes", 90),
            ("2 hours", 120),
            ("1.5 hours", 90),
            ("1,5 h", 90),
            ("an hour", 60),
            ("half an hour", 30),
            ("45 mins", 45),
            ("1:30", 90),
            ("24 hours", 1440),
        ] {
            assert_eq!(mins(s), Ok(m), "{s}");
        }
    }

    #[test]
    fn refusals() {
        for (s, why) in [
            ("90", "not a duration"),
            ("ever", "not a duration"),
            ("0 minutes", "between"),
            ("25 hours", "between"),
            ("1.51 hours", "not a duration"),
            ("1:75", "not a duration"),
            ("", "not a duration"),
        ] {
            let e = mins(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
        }
    }
}
