//! Splitting a command into words: whitespace-separated, with quoted names ("…", “…”, „…“,
//! ‘…’, «…») kept as one word, and the commas people put between list items dropped.

/// One word of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    /// Written in quotes: never a keyword, always literal text (a name).
    pub quoted: bool,
}

impl Word {
    /// Whether this is the keyword `kw` (case-insensitive; quoted words never are).
    pub fn is(&self, kw: &str) -> bool {
        !self.quoted && self.text.eq_ignore_ascii_case(kw)
    }

    /// Whether this is one of the keywords.
    pub fn is_any(&self, kws: &[&str]) -> bool {
        kws.iter().any(|k| self.is(k))
    }

    pub fn lower(&self) -> String {
        self.text.to_lowercase()
    }
}

const OPENING: &[char] = &['"', '“', '”', '„', '‘', '’', '\'', '«', '»', '‚'];
const CLOSING: &[char] = &['"', '”', '“', '’', '‘', '\'', '»', '«'];

/// Trailing sentence punctuation people add to commands ("delete room abc-def-ghi.").
pub(crate) fn trim_command(text: &str) -> &str {
    text.trim()
        .trim_end_matches(['.', '!', '?', ';', '…'])
        .trim_end()
}

/// The words of `text`.
pub(crate) fn words(text: &str) -> Vec<Word> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if OPENING.contains(&chars[i])
            && let Some(end) = closing_quote(&chars, i + 1)
        {
            let inner: String = chars[i + 1..end].iter().collect();
            out.push(Word {
                text: inner.split_whitespace().collect::<Vec<_>>().join(" "),
                quoted: true,
            });
            i = end + 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        let raw: String = chars[start..i].iter().collect();
        push_plain(&mut out, &raw);
    }
    out
}

/// The closing quote of a quoted name: a quote character followed by a space, the end, or
/// punctuation. Apostrophes inside words ("Bob's") do not close.
fn closing_quote(chars: &[char], from: usize) -> Option<usize> {
    (from..chars.len()).find(|&j| {
        CLOSING.contains(&chars[j])
            && chars
                .get(j + 1)
                .is_none_or(|c| c.is_whitespace() || matches!(c, ',' | '.' | ';' | ':'))
    })
}

/// A plain word without the commas around list items; a lone comma is no word. A comma
/// between digits stays (a decimal comma: "1,5 hours").
fn push_plain(out: &mut Vec<Word>, raw: &str) {
    let chars: Vec<char> = raw.chars().collect();
    let mut part = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let decimal = i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c == ',' && !decimal {
            push_part(out, &mut part);
        } else {
            part.push(c);
        }
    }
    push_part(out, &mut part);
}

fn push_part(out: &mut Vec<Word>, part: &mut String) {
    let text = part.trim_end_matches(';');
    if !text.is_empty() {
        out.push(Word {
            text: text.to_string(),
            quoted: false,
        });
    }
    part.clear();
}

/// The words as text, joined by single spaces.
pub(crate) fn join(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<(String, bool)> {
        words(s).into_iter().map(|w| (w.text, w.quoted)).collect()
    }

    #[test]
    fn quotes_group_words() {
        assert_eq!(
            texts("schedule “Linear  Algebra” tomorrow"),
            [
                ("schedule".into(), false),
                ("Linear Algebra".into(), true),
                ("tomorrow".into(), false)
            ]
        );
        assert_eq!(texts("\"a b\"")[0], ("a b".into(), true));
        assert_eq!(texts("„Übung 1“ x")[0], ("Übung 1".into(), true));
    }

    #[test]
    fn apostrophes_and_unclosed_quotes_stay_literal() {
        assert_eq!(
            texts("Bob's meeting"),
            [("Bob's".into(), false), ("meeting".into(), false)]
        );
        assert_eq!(texts("“open")[0], ("“open".into(), false));
    }

    #[test]
    fn commas_split_lists() {
        assert_eq!(
            texts("a@x.org,b@y.org , c@z.org"),
            [
                ("a@x.org".into(), false),
                ("b@y.org".into(), false),
                ("c@z.org".into(), false)
            ]
        );
    }

    #[test]
    fn decimal_commas_stay() {
        assert_eq!(texts("1,5 h")[0], ("1,5".into(), false));
        assert_eq!(texts("3,a")[1], ("a".into(), false));
    }

    #[test]
    fn trailing_punctuation_goes() {
        assert_eq!(
            trim_command("  delete room abc-def-ghi.!? "),
            "delete room abc-def-ghi"
        );
    }
}
