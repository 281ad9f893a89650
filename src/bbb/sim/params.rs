//! Decoded request parameters, in the order they arrived, with BBB's parsing rules
//! (Java `Boolean.parseBoolean`, `meta_` key pattern, `userdata-` prefix).

use std::collections::BTreeMap;

/// Request parameters (query string plus form body), first value wins like `params.x` in Grails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode an `application/x-www-form-urlencoded` string; `+` and `%20` both mean space.
    pub fn parse(encoded: &str) -> Self {
        let pairs = form_urlencoded::parse(encoded.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self { pairs }
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((key.into(), value.into()));
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn contains(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// First value of `key`, as sent (may be empty).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// First value of `key` when present and not blank (Groovy truthiness of `params.x`).
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.trim().is_empty())
    }

    /// `Boolean.parseBoolean`: only a case-insensitive "true" is true; absent gives `default`.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        match self.non_empty(key) {
            Some(v) => v.trim().eq_ignore_ascii_case("true"),
            None => default,
        }
    }

    /// A non-negative integer; absent or unparsable gives `default` (BBB falls back silently).
    pub fn number(&self, key: &str, default: u32) -> u32 {
        self.non_empty(key)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(default)
    }

    /// `meta_<key>` parameters whose key matches `[a-zA-Z][a-zA-Z0-9-]*`, keys lower-cased
    /// (bbb-api.md §3); other `meta_` keys are dropped as BBB does.
    pub fn meta(&self) -> BTreeMap<String, String> {
        self.pairs
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("meta_")?;
                valid_meta_key(key).then(|| (key.to_ascii_lowercase(), v.clone()))
            })
            .collect()
    }

    /// `userdata-<key>` parameters, keys as sent.
    pub fn userdata(&self) -> BTreeMap<String, String> {
        self.pairs
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("userdata-")?;
                (!key.is_empty()).then(|| (key.to_string(), v.clone()))
            })
            .collect()
    }

    /// Comma-separated values of `key`, trimmed, empties dropped.
    pub fn csv(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// BBB's `meta_` key rule: a letter, then letters, digits or dashes.
pub(crate) fn valid_meta_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_and_percent_twenty_decode_alike() {
        let a = Params::parse("name=Test+Meeting&x=1");
        let b = Params::parse("name=Test%20Meeting&x=1");
        assert_eq!(a.get("name"), Some("Test Meeting"));
        assert_eq!(a, b);
    }

    #[test]
    fn meta_keys_are_filtered_and_lowercased() {
        let p = Params::parse(
            "meta_endCallbackUrl=http%3A%2F%2Fx&meta_bbb-recording-ready-url=y&meta_1bad=z&meta_=q",
        );
        let m = p.meta();
        assert_eq!(
            m.get("endcallbackurl").map(String::as_str),
            Some("http://x")
        );
        assert_eq!(
            m.get("bbb-recording-ready-url").map(String::as_str),
            Some("y")
        );
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn booleans_follow_java() {
        let p = Params::parse("a=TRUE&b=yes&c=");
        assert!(p.flag("a", false));
        assert!(!p.flag("b", true));
        assert!(p.flag("c", true));
        assert!(!p.flag("missing", false));
    }

    #[test]
    fn numbers_and_csv() {
        let p = Params::parse("n=12&bad=x&ids=a,+b,,c");
        assert_eq!(p.number("n", 0), 12);
        assert_eq!(p.number("bad", 7), 7);
        assert_eq!(p.csv("ids"), vec!["a", "b", "c"]);
    }
}
