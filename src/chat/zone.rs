//! `timezone <zone>`: an IANA zone name (case-insensitive), or a city that names exactly one
//! zone (`vienna`, `new york`); a typo gets the closest name.

use super::Parsed;
use super::error::{Fail, shown};
use super::lex::Word;
use jiff::tz::{self, TimeZone};

const CMD: &str = "timezone";

pub(crate) fn parse(rest: &[Word]) -> Result<Parsed, Fail> {
    if rest.is_empty() {
        return Err(Fail::new("Which time zone? E.g. `timezone Europe/Vienna`.").of(CMD));
    }
    let typed = rest
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join("_");
    lookup(&typed)
        .map(Parsed::SetTimeZone)
        .map_err(|f| f.of(CMD))
}

/// The zone called `typed`, or the one zone whose city part is `typed`.
pub(crate) fn lookup(typed: &str) -> Result<TimeZone, Fail> {
    if let Ok(tz) = TimeZone::get(typed) {
        return Ok(tz);
    }
    let names: Vec<String> = tz::db()
        .available()
        .map(|n| n.as_str().to_string())
        .collect();
    let city: Vec<&String> = names
        .iter()
        .filter(|n| n.contains('/') && city_of(n).eq_ignore_ascii_case(typed))
        .collect();
    if let [one] = city.as_slice() {
        return TimeZone::get(one).map_err(|_| unknown(typed, None));
    }
    Err(unknown(typed, closest(typed, &names)))
}

fn city_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The closest full name, else the zone with the closest city.
fn closest<'n>(typed: &str, names: &'n [String]) -> Option<&'n str> {
    if let Some(s) = crate::config::suggest(typed, names.iter().map(String::as_str)) {
        return Some(s);
    }
    let cities: Vec<&str> = names.iter().map(|n| city_of(n)).collect();
    let best = crate::config::suggest(city_of(typed), cities.iter().copied())?;
    names
        .iter()
        .find(|n| n.contains('/') && city_of(n) == best)
        .map(String::as_str)
}

fn unknown(typed: &str, suggestion: Option<&str>) -> Fail {
    let fail = Fail::new(format!(
        "I don't know the time zone {}; use an IANA name such as Europe/Vienna, \
         America/New_York or UTC.",
        shown(typed)
    ));
    match suggestion {
        Some(s) => fail.suggest(format!("timezone {s}")),
        None => fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_cities() {
        let name = |s: &str| lookup(s).unwrap().iana_name().unwrap().to_string();
        assert_eq!(name("Europe/Vienna"), "Europe/Vienna");
        assert_eq!(name("europe/vienna"), "Europe/Vienna");
        assert_eq!(name("UTC"), "UTC");
        assert_eq!(name("vienna"), "Europe/Vienna");
        assert_eq!(name("New_York"), "America/New_York");
    }

    #[test]
    fn typos_get_suggestions() {
        let e = lookup("Europe/Viena").unwrap_err();
        assert_eq!(e.did_you_mean.as_deref(), Some("timezone Europe/Vienna"));
        let e = lookup("Kolkatta").unwrap_err();
        assert_eq!(e.did_you_mean.as_deref(), Some("timezone Asia/Kolkata"));
        assert!(lookup("qqqqqqqq").unwrap_err().did_you_mean.is_none());
    }
}
