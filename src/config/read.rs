//! Reading typed values from the located tree. Every helper records its problems in `Ctx` and
//! returns `None`, so one pass over a file finds all of them.

use super::error::{ConfigError, ConfigErrors};
use super::tree::{At, Kind, Node, ScalarType};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Secret files are small (a password, a token); anything bigger is a mistake.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Collects errors for one file.
pub(crate) struct Ctx {
    pub file: String,
    /// Relative `*_file` paths are resolved against the directory of the config file.
    pub base_dir: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl Ctx {
    pub(crate) fn new(file_name: &str) -> Self {
        let base_dir = Path::new(file_name)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self {
            file: file_name.to_string(),
            base_dir,
            errors: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, at: &At, path: &str, message: impl Into<String>) {
        self.push(at, path, message.into(), None);
    }

    pub(crate) fn error_hint(
        &mut self,
        at: &At,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(at, path, message.into(), Some(hint.into()));
    }

    fn push(&mut self, at: &At, path: &str, message: String, hint: Option<String>) {
        let (line, column, env_var) = match at {
            At::Yaml { line, column } => (*line, *column, None),
            At::Env { var } => (0, 0, Some(var.clone())),
        };
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line,
            column,
            env_var,
            path: path.to_string(),
            message,
            hint,
        });
    }

    /// The value if no problem was recorded, else all problems in file order.
    pub(crate) fn finish<T>(mut self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(value);
        }
        // Env problems (line 0) first, then by position; stable for equal positions.
        self.errors.sort_by_key(|e| (e.line, e.column));
        Err(ConfigErrors(self.errors))
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// "did you mean `startDate`?" when a known key is close to the unknown one.
pub(crate) fn suggest<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    let u = norm(unknown);
    let mut best: Option<(&str, f64)> = None;
    for k in known {
        let score = if norm(k) == u {
            2.0
        } else {
            strsim::jaro_winkler(&u, &norm(k))
        };
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((k, score));
        }
    }
    best.filter(|(_, s)| *s >= 0.82).map(|(k, _)| k)
}

/// A short, printable rendering of a user value for messages (never used for secrets).
pub(crate) fn shown(s: &str) -> String {
    let cut: String = s.chars().take(60).collect();
    let cut = if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    };
    format!("{cut:?}")
}

/// The keys of one YAML mapping, checked against the keys it may have.
pub(crate) struct Fields<'n> {
    pub path: String,
    pub at: At,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
    known: &'static [&'static str],
}

impl<'n> Fields<'n> {
    /// Reads a mapping (null counts as empty). Reports non-text keys, duplicate keys and, for
    /// `known` non-empty, unknown keys with a suggestion. `at` is where the mapping is named.
    pub(crate) fn new(
        ctx: &mut Ctx,
        node: &'n Node,
        path: &str,
        at: &At,
        known: &'static [&'static str],
    ) -> Option<Self> {
        let entries = entries(ctx, node, path, "a mapping of `key: value` lines")?;
        let fields = Self {
            path: path.to_string(),
            at: at.clone(),
            entries,
            known,
        };
        fields.report_unknown(ctx);
        Some(fields)
    }

    fn report_unknown(&self, ctx: &mut Ctx) {
        for (key, key_node, _) in &self.entries {
            if self.known.contains(key) {
                continue;
            }
            let path = join(&self.path, key);
            let hint = match suggest(key, self.known.iter().copied()) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("allowed keys here: {}", self.known.join(", ")),
            };
            ctx.error_hint(&key_node.at, &path, format!("unknown key `{key}`"), hint);
        }
    }

    /// The value of `key`, if present and not null.
    pub(crate) fn get(&self, key: &str) -> Option<&'n Node> {
        self.entry(key).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// Key node and value of `key`, null values included.
    pub(crate) fn entry(&self, key: &str) -> Option<(&'n Node, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, v)| (*k, *v))
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Records "missing key" at the mapping's own position.
    pub(crate) fn missing(&self, ctx: &mut Ctx, key: &str, example: &str) {
        ctx.error_hint(
            &self.at,
            &self.path,
            format!("`{key}` is missing"),
            format!("add `{key}: {example}`"),
        );
    }

    pub(crate) fn text(&self, ctx: &mut Ctx, key: &str) -> Option<String> {
        let node = self.get(key)?;
        text(ctx, node, &self.key_path(key))
    }

    pub(crate) fn req_text(&self, ctx: &mut Ctx, key: &str, example: &str) -> Option<String> {
        if !self.has(key) {
            self.missing(ctx, key, example);
            return None;
        }
        self.text(ctx, key)
    }

    pub(crate) fn bool(&self, ctx: &mut Ctx, key: &str) -> Option<bool> {
        let node = self.get(key)?;
        boolean(ctx, node, &self.key_path(key))
    }

    pub(crate) fn uint<T: TryFrom<i128>>(&self, ctx: &mut Ctx, key: &str) -> Option<T> {
        let node = self.get(key)?;
        uint(ctx, node, &self.key_path(key))
    }

    /// A value checked by its `FromStr` (the domain newtypes).
    pub(crate) fn parsed<T>(&self, ctx: &mut Ctx, key: &str, hint: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let node = self.get(key)?;
        parsed(ctx, node, &self.key_path(key), hint)
    }

    pub(crate) fn req_parsed<T>(
        &self,
        ctx: &mut Ctx,
        key: &str,
        hint: &str,
        example: &str,
    ) -> Option<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        if !self.has(key) {
            self.missing(ctx, key, example);
            return None;
        }
        self.parsed(ctx, key, hint)
    }

    /// A value checked by `check`, which explains a refusal in its error text.
    pub(crate) fn checked<T>(
        &self,
        ctx: &mut Ctx,
        key: &str,
        hint: &str,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let node = self.get(key)?;
        let path = self.key_path(key);
        let t = text(ctx, node, &path)?;
        match check(&t) {
            Ok(v) => Some(v),
            Err(reason) => {
                ctx.error_hint(&node.at, &path, reason, hint);
                None
            }
        }
    }

    /// A list of text values; an environment value is split at commas.
    pub(crate) fn text_list(&self, ctx: &mut Ctx, key: &str) -> Option<Vec<(At, String)>> {
        let node = self.get(key)?;
        let path = self.key_path(key);
        match &node.kind {
            Kind::Seq(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    if let Some(t) = text(ctx, item, &format!("{path}[{i}]")) {
                        out.push((item.at.clone(), t));
                    }
                }
                Some(out)
            }
            Kind::Scalar { text, .. } if matches!(node.at, At::Env { .. }) => Some(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| (node.at.clone(), s.to_string()))
                    .collect(),
            ),
            _ => {
                ctx.error_hint(
                    &node.at,
                    &path,
                    format!("expected a list, found {}", node.describe()),
                    format!("write one entry per line, e.g. `{key}:` then `  - value`"),
                );
                None
            }
        }
    }

    /// A secret: given inline (`password: …`) or read from a file (`password_file: /path`,
    /// `BBB_SECRET_FILE: /path`). Secret values never appear in messages.
    pub(crate) fn secret(&self, ctx: &mut Ctx, key: &str) -> Option<String> {
        let file_key = secret_file_key(key);
        let inline = self.get(key);
        let from_file = self.get(&file_key);
        match (inline, from_file) {
            (Some(_), Some(f)) => {
                ctx.error_hint(
                    &f.at,
                    &self.key_path(&file_key),
                    format!("both `{key}` and `{file_key}` are set"),
                    format!("keep only one of `{key}` and `{file_key}`"),
                );
                None
            }
            (Some(node), None) => secret_inline(ctx, node, &self.key_path(key)),
            (None, Some(node)) => {
                let path = self.key_path(&file_key);
                let file = text(ctx, node, &path)?;
                read_secret_file(ctx, node, &path, &file)
            }
            (None, None) => None,
        }
    }

    /// Whether a secret is configured (inline or as a file), without reading it.
    pub(crate) fn has_secret(&self, key: &str) -> bool {
        self.has(key) || self.has(&secret_file_key(key))
    }
}

/// `BBB_SECRET` → `BBB_SECRET_FILE`, `password` → `password_file`.
pub(crate) fn secret_file_key(key: &str) -> String {
    if key.chars().any(|c| c.is_ascii_lowercase()) {
        format!("{key}_file")
    } else {
        format!("{key}_FILE")
    }
}

/// The entries of a mapping in file order, first occurrence of each key only.
pub(crate) fn entries<'n>(
    ctx: &mut Ctx,
    node: &'n Node,
    path: &str,
    expected: &str,
) -> Option<Vec<(&'n str, &'n Node, &'n Node)>> {
    let items = match &node.kind {
        Kind::Map(items) => items,
        Kind::Null => return Some(Vec::new()),
        _ => {
            ctx.error_hint(
                &node.at,
                path,
                format!("expected {expected}, found {}", node.describe()),
                "indent the entries below this key",
            );
            return None;
        }
    };
    let mut out: Vec<(&str, &Node, &Node)> = Vec::with_capacity(items.len());
    for (k, v) in items {
        let Some(key) = k.as_text().filter(|t| !t.trim().is_empty()) else {
            ctx.error_hint(
                &k.at,
                path,
                format!("a key must be plain text, found {}", k.describe()),
                "write keys as `name: value`",
            );
            continue;
        };
        if let Some((_, first, _)) = out.iter().find(|(seen, _, _)| *seen == key) {
            let first_line = match &first.at {
                At::Yaml { line, .. } => format!(" (first at line {line})"),
                At::Env { .. } => String::new(),
            };
            ctx.error_hint(
                &k.at,
                &join(path, key),
                format!("duplicate key `{key}`{first_line}"),
                "remove one of them; a key may appear only once in a mapping",
            );
            continue;
        }
        out.push((key, k, v));
    }
    Some(out)
}

/// Any scalar as text (numbers and yes/no exactly as written).
pub(crate) fn text(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    match &node.kind {
        Kind::Scalar { text, .. } => Some(text.clone()),
        _ => {
            ctx.error_hint(
                &node.at,
                path,
                format!("expected text, found {}", node.describe()),
                "write a single value after the colon",
            );
            None
        }
    }
}

fn secret_inline(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    match &node.kind {
        Kind::Scalar { text, .. } if !text.is_empty() => Some(text.clone()),
        _ => {
            ctx.error_hint(
                &node.at,
                path,
                "expected the secret as text",
                "quote it if it contains special characters",
            );
            None
        }
    }
}

/// Reads a secret from a regular file, trimming the trailing newline editors add.
fn read_secret_file(ctx: &mut Ctx, node: &Node, path: &str, file: &str) -> Option<String> {
    // Paths written in the file are relative to it; paths from the environment are used as
    // given (relative to the working directory).
    let full = match node.at {
        At::Env { .. } => PathBuf::from(file),
        At::Yaml { .. } => ctx.base_dir.join(file),
    };
    match read_small_file(&full) {
        Ok(s) => {
            let s = s.trim_end_matches(['\n', '\r']).to_string();
            if s.is_empty() {
                ctx.error_hint(
                    &node.at,
                    path,
                    format!("secret file {} is empty", full.display()),
                    "write the secret into that file",
                );
                return None;
            }
            Some(s)
        }
        Err(reason) => {
            ctx.error_hint(
                &node.at,
                path,
                format!("cannot read secret file {}: {reason}", full.display()),
                "check the path and that schedulight may read the file",
            );
            None
        }
    }
}

/// Reads a small regular file (not a device or pipe, which could block or never end).
pub(crate) fn read_small_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(format!("larger than {MAX_SECRET_FILE_BYTES} bytes"));
    }
    let mut buf = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_FILE_BYTES).read_to_string(&mut buf))
        .map_err(|e| e.to_string())?;
    Ok(buf)
}

const TRUE_WORDS: [&str; 5] = ["true", "yes", "on", "y", "1"];
const FALSE_WORDS: [&str; 5] = ["false", "no", "off", "n", "0"];

/// A yes/no value: YAML booleans, or text such as `true`/`no` (quoted or from the environment).
pub(crate) fn boolean(ctx: &mut Ctx, node: &Node, path: &str) -> Option<bool> {
    if let Kind::Scalar { ty, text } = &node.kind {
        if let ScalarType::Bool(b) = ty {
            return Some(*b);
        }
        let t = text.trim().to_ascii_lowercase();
        if TRUE_WORDS.contains(&t.as_str()) {
            return Some(true);
        }
        if FALSE_WORDS.contains(&t.as_str()) {
            return Some(false);
        }
    }
    let found = match node.as_text() {
        Some(t) => shown(t),
        None => node.describe(),
    };
    ctx.error_hint(
        &node.at,
        path,
        format!("expected true or false, found {found}"),
        "write `true` or `false`",
    );
    None
}

/// A non-negative whole number that fits `T`.
pub(crate) fn uint<T: TryFrom<i128>>(ctx: &mut Ctx, node: &Node, path: &str) -> Option<T> {
    let value = match &node.kind {
        Kind::Scalar {
            ty: ScalarType::Int(i),
            ..
        } => Some(*i),
        Kind::Scalar {
            ty: ScalarType::Str,
            text,
        } => text.trim().parse::<i128>().ok(),
        _ => None,
    };
    let found = match node.as_text() {
        Some(t) => shown(t),
        None => node.describe(),
    };
    match value {
        Some(v) if v >= 0 => match T::try_from(v) {
            Ok(t) => Some(t),
            Err(_) => {
                ctx.error_hint(
                    &node.at,
                    path,
                    format!("{v} is too large"),
                    "use a smaller number",
                );
                None
            }
        },
        Some(_) => {
            ctx.error_hint(
                &node.at,
                path,
                format!("expected a number of 0 or more, found {found}"),
                "remove the minus sign",
            );
            None
        }
        None => {
            ctx.error_hint(
                &node.at,
                path,
                format!("expected a whole number, found {found}"),
                "write digits only, e.g. 30",
            );
            None
        }
    }
}

pub(crate) fn parsed<T>(ctx: &mut Ctx, node: &Node, path: &str, hint: &str) -> Option<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let t = text(ctx, node, path)?;
    match t.parse::<T>() {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.error_hint(&node.at, path, e.to_string(), hint);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["startDate", "preOpenMinutes", "send_emails", "meetingName"];
        assert_eq!(suggest("startdate", known), Some("startDate"));
        assert_eq!(suggest("preopenminutes", known), Some("preOpenMinutes"));
        assert_eq!(suggest("send-emails", known), Some("send_emails"));
        assert_eq!(suggest("meetingNam", known), Some("meetingName"));
        assert_eq!(suggest("zzz", known), None);
    }

    #[test]
    fn secret_file_key_follows_case() {
        assert_eq!(secret_file_key("BBB_SECRET"), "BBB_SECRET_FILE");
        assert_eq!(secret_file_key("password"), "password_file");
        assert_eq!(secret_file_key("mailPassword"), "mailPassword_file");
    }
}
