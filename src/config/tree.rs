//! A located YAML tree. serde-saphyr parses the text; `Spanned` gives every node and key its
//! line and column, and the byte span lets us keep a scalar's text exactly as written
//! (`accessCode: 0123` stays "0123", `meetingID: 1e3` stays "1e3"). Typed values are read from
//! this tree afterwards so that every problem of a file can be reported, not only the first.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Location, MessageFormatter, NonFiniteFloatPolicy, Spanned};
use std::fmt;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum At {
    /// 1-based line and column in the file.
    Yaml { line: u64, column: u64 },
    /// A `SCHEDULIGHT_*` environment variable.
    Env { var: String },
}

impl At {
    pub(crate) fn start() -> Self {
        At::Yaml { line: 1, column: 1 }
    }

    fn from_location(loc: &Location) -> Self {
        if loc.line() == 0 {
            Self::start()
        } else {
            At::Yaml {
                line: loc.line(),
                column: loc.column(),
            }
        }
    }
}

/// How YAML resolved a scalar; the text is kept either way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ScalarType {
    Str,
    Bool(bool),
    Int(i128),
    Float,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Scalar { text: String, ty: ScalarType },
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub at: At,
    pub kind: Kind,
}

impl Node {
    pub(crate) fn text(at: At, text: impl Into<String>) -> Self {
        Node {
            at,
            kind: Kind::Scalar {
                text: text.into(),
                ty: ScalarType::Str,
            },
        }
    }

    pub(crate) fn empty_map(at: At) -> Self {
        Node {
            at,
            kind: Kind::Map(Vec::new()),
        }
    }

    /// The scalar's text (None for maps, lists and null).
    pub(crate) fn as_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// For messages: "a list", "a mapping", "the number 5", …
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            Kind::Null => "nothing (null)".into(),
            Kind::Map(_) => "a mapping".into(),
            Kind::Seq(_) => "a list".into(),
            Kind::Scalar { ty, .. } => match ty {
                ScalarType::Str => "text".into(),
                ScalarType::Bool(_) => "a yes/no value".into(),
                ScalarType::Int(_) => "a whole number".into(),
                ScalarType::Float => "a decimal number".into(),
            },
        }
    }
}

/// A YAML syntax problem: position, message (no snippet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: u64,
    pub column: u64,
    pub message: String,
    pub too_complex: bool,
}

/// Parse YAML text into a located tree. An empty document is `Null`.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut budget = serde_saphyr::Budget::default();
    // Configuration files are small; tighter limits keep hostile input cheap.
    budget.max_nodes = 100_000;
    budget.max_events = 400_000;
    budget.max_total_scalar_bytes = 8 * 1024 * 1024;
    let options = serde_saphyr::options! {
        budget: Some(budget),
        // Duplicates reach our visitor, which reports all of them with both positions.
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        leading_zero_numbers_as_strings: true,
        // `1e999` or `.nan` are kept as written; only typed reading decides what they mean.
        non_finite_float_policy: NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, options) {
        Ok(root) => Ok(convert(text, root)),
        Err(e) => Err(syntax_error(&e)),
    }
}

fn syntax_error(e: &serde_saphyr::Error) -> SyntaxError {
    let inner = e.without_snippet();
    let raw = serde_saphyr::UserMessageFormatter.format_message(inner);
    // The formatter documents that its text may hold control characters from the input.
    let message: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    SyntaxError {
        line,
        column,
        too_complex: message.contains("too large or too complex"),
        message,
    }
}

/// What serde-saphyr hands us: values with their spans, before text recovery.
enum Raw {
    Null,
    Bool(bool),
    Int(i128),
    Float,
    Str(String),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
    Seq(Vec<Spanned<Raw>>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Int(i128::from(v)))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(i128::try_from(v).map(Raw::Int).unwrap_or(Raw::Float))
    }
    fn visit_f64<E>(self, _v: f64) -> Result<Raw, E> {
        Ok(Raw::Float)
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Raw, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = m.next_key::<Spanned<Raw>>()? {
            let v = m.next_value::<Spanned<Raw>>()?;
            out.push((k, v));
        }
        Ok(Raw::Map(out))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Raw, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = s.next_element::<Spanned<Raw>>()? {
            out.push(v);
        }
        Ok(Raw::Seq(out))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _e: A) -> Result<Raw, A::Error> {
        Err(de::Error::custom(
            "tagged values (`!tag value`) are not supported here",
        ))
    }
}

/// The source text of a scalar as written (used for numbers and yes/no values).
fn source_text(src: &str, loc: &Location) -> Option<String> {
    let span = loc.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    let text = src.get(start..start.checked_add(len)?)?.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn convert(src: &str, node: Spanned<Raw>) -> Node {
    let at = At::from_location(&node.referenced);
    // For aliases the definition holds the text; for plain values both are the same.
    let raw_text = |fallback: String| source_text(src, &node.defined).unwrap_or(fallback);
    let kind = match node.value {
        Raw::Null => Kind::Null,
        Raw::Str(s) => Kind::Scalar {
            text: s,
            ty: ScalarType::Str,
        },
        Raw::Bool(b) => Kind::Scalar {
            text: raw_text(b.to_string()),
            ty: ScalarType::Bool(b),
        },
        Raw::Int(i) => Kind::Scalar {
            text: raw_text(i.to_string()),
            ty: ScalarType::Int(i),
        },
        Raw::Float => Kind::Scalar {
            text: raw_text(String::new()),
            ty: ScalarType::Float,
        },
        Raw::Map(entries) => Kind::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(src, k), convert(src, v)))
                .collect(),
        ),
        Raw::Seq(items) => Kind::Seq(items.into_iter().map(|v| convert(src, v)).collect()),
    };
    Node { at, kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(n: &'a Node, key: &str) -> &'a Node {
        match &n.kind {
            Kind::Map(e) => &e.iter().find(|(k, _)| k.as_text() == Some(key)).unwrap().1,
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn scalars_keep_their_text() {
        let t =
            parse("a: 0123\nb: 1e3\nc: yes\nd: 2020-06-13 18:15\ne: '0x1F'\nf: 0x1F\ng: 1e999\n")
                .unwrap();
        assert_eq!(get(&t, "g").as_text(), Some("1e999"));
        assert_eq!(get(&t, "a").as_text(), Some("0123"));
        assert_eq!(get(&t, "b").as_text(), Some("1e3"));
        assert_eq!(get(&t, "c").as_text(), Some("yes"));
        assert!(matches!(
            get(&t, "c").kind,
            Kind::Scalar {
                ty: ScalarType::Bool(true),
                ..
            }
        ));
        assert_eq!(get(&t, "d").as_text(), Some("2020-06-13 18:15"));
        assert_eq!(get(&t, "e").as_text(), Some("0x1F"));
        assert_eq!(get(&t, "f").as_text(), Some("0x1F"));
    }

    #[test]
    fn positions_are_one_based() {
        let t = parse("# c\nouter:\n  inner: 5\n").unwrap();
        let outer = get(&t, "outer");
        assert_eq!(
            get(outer, "inner").at,
            At::Yaml {
                line: 3,
                column: 10
            }
        );
    }

    #[test]
    fn aliases_take_text_from_the_anchor() {
        let t = parse("a: &x 0042\nb: *x\n").unwrap();
        assert_eq!(get(&t, "b").as_text(), Some("0042"));
    }

    #[test]
    fn duplicates_are_kept_for_reporting() {
        let t = parse("a: 1\na: 2\n").unwrap();
        match t.kind {
            Kind::Map(e) => assert_eq!(e.len(), 2),
            _ => panic!(),
        }
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 4));
        assert!(!e.message.contains('\n'));
        let e = parse(&format!("a: {}{}", "[".repeat(100), "]".repeat(100))).unwrap_err();
        assert!(e.too_complex);
    }

    #[test]
    fn empty_document_is_null() {
        assert!(parse("").unwrap().is_null());
        assert!(parse("# nothing\n").unwrap().is_null());
    }
}
