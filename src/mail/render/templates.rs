//! Finding a mail's template and rendering it with minijinja.
//!
//! Two kinds of file:
//! - ours (`{% block subject %}`, `{% block text %}`, `{% block html %}`), each block rendered
//!   on its own; the html block is auto-escaped, subject and text are not;
//! - the original's (`Subject: …`, a blank line, an HTML body), rendered whole without
//!   escaping, as Jinja2 did, then split into subject and HTML; the text part is made from the
//!   HTML.

use super::{Language, MailContext, RenderError, text};
use crate::config::MailConfig;
use crate::domain::NoticeKind;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, ErrorKind};
use serde_json::Value;
use std::borrow::Cow;
use std::path::Path;

macro_rules! builtin {
    ($lang:literal, $kind:literal) => {
        (
            $lang,
            $kind,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/templates/mail/",
                $lang,
                "/",
                $kind,
                ".j2"
            )),
        )
    };
}

/// The built-in templates, compiled into the binary so it works from any directory.
const BUILTIN: &[(&str, &str, &str)] = &[
    builtin!("en", "owner_info"),
    builtin!("en", "owner_reminder"),
    builtin!("en", "owner_started"),
    builtin!("en", "share_info"),
    builtin!("en", "invitation"),
    builtin!("en", "moderator_link"),
    builtin!("en", "room_shared"),
    builtin!("en", "room_unshared"),
    builtin!("en", "meeting_cancelled"),
    builtin!("en", "meeting_changed"),
    builtin!("de", "owner_info"),
    builtin!("de", "owner_reminder"),
    builtin!("de", "owner_started"),
    builtin!("de", "share_info"),
    builtin!("de", "invitation"),
    builtin!("de", "moderator_link"),
    builtin!("de", "room_shared"),
    builtin!("de", "room_unshared"),
    builtin!("de", "meeting_cancelled"),
    builtin!("de", "meeting_changed"),
    builtin!("en", "room_links"),
    builtin!("de", "room_links"),
    builtin!("en", "recordings_expiring"),
    builtin!("de", "recordings_expiring"),
];

/// Template files larger than this are refused (a mail template is a few kilobytes).
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

/// The original's stock template file of a kind (`meetingOwnerInfoTemplate.j2`, …).
pub fn seed_file_name(kind: NoticeKind) -> Option<&'static str> {
    Some(match kind {
        NoticeKind::OwnerInfo => "meetingOwnerInfoTemplate.j2",
        NoticeKind::OwnerReminder => "meetingOwnerReminderTemplate.j2",
        NoticeKind::OwnerStarted => "meetingOwnerStartedTemplate.j2",
        NoticeKind::ShareInfo => "meetingShareInfoTemplate.j2",
        NoticeKind::Invitation => "meetingInvitationInfoTemplate.j2",
        NoticeKind::ModeratorLink => "meetingModeratorInfoTemplate.j2",
        NoticeKind::RoomShared => "roomSharedTemplate.j2",
        NoticeKind::RoomUnshared => "roomUnsharedTemplate.j2",
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Blocks,
    Original,
}

/// The template a mail is rendered with.
pub(super) struct Chosen {
    /// For error messages: the file name, or `built-in de/invitation.j2`.
    pub name: String,
    pub source: Cow<'static, str>,
    pub style: Style,
}

impl Chosen {
    fn file(name: String, source: String) -> Self {
        let style = style_of(&source);
        Self {
            name,
            source: Cow::Owned(source),
            style,
        }
    }
}

fn style_of(source: &str) -> Style {
    if source.contains("block subject") {
        Style::Blocks
    } else {
        Style::Original
    }
}

fn builtin(lang: Language, kind: NoticeKind) -> Result<Chosen, RenderError> {
    BUILTIN
        .iter()
        .find(|(l, k, _)| *l == lang.as_str() && *k == kind.as_str())
        .map(|(l, k, src)| Chosen {
            name: format!("built-in {l}/{k}.j2"),
            source: Cow::Borrowed(*src),
            style: Style::Blocks,
        })
        .ok_or_else(|| RenderError::Unusable(format!("no mail template for {kind}")))
}

/// Pick the template: a named file (a meeting's `*Template` key, or `mail preview`'s
/// argument), else `<dir>/<lang>/<kind>.j2`, else the original's stock file name in the
/// directory, else the built-in one. A named file that does not exist is an error, except the
/// original's stock names, which mean its stock text: the built-in template stands in.
pub(super) fn choose(
    mail: &MailConfig,
    lang: Language,
    kind: NoticeKind,
    named: Option<&str>,
) -> Result<Chosen, RenderError> {
    let dir = mail.templates_dir.as_deref();
    if let Some(name) = named {
        check_name(name)?;
        if let Some(dir) = dir
            && let Some(source) = read(dir, name)?
        {
            return Ok(Chosen::file(name.to_string(), source));
        }
        if seed_file_name(kind) == Some(name) {
            return builtin(lang, kind);
        }
        let searched = match dir {
            Some(d) => format!("looked in {}", d.display()),
            None => "mail.templates_dir is not set in bot-config.yml".to_string(),
        };
        return Err(RenderError::MissingTemplate {
            name: name.to_string(),
            searched,
        });
    }
    if let Some(dir) = dir {
        let ours = format!("{}/{}.j2", lang.as_str(), kind.as_str());
        for candidate in [Some(ours.as_str()), seed_file_name(kind)]
            .into_iter()
            .flatten()
        {
            if let Some(source) = read(dir, candidate)? {
                return Ok(Chosen::file(candidate.to_string(), source));
            }
        }
    }
    builtin(lang, kind)
}

/// A template name stays inside the directory: plain names, no `..`, no absolute paths.
fn check_name(name: &str) -> Result<(), RenderError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(RenderError::Unusable(format!(
            "{name:?} is not a plain template file name"
        )))
    }
}

/// The file's text, None when it does not exist.
fn read(dir: &Path, name: &str) -> Result<Option<String>, RenderError> {
    let path = dir.join(name);
    let fail = |reason: String| RenderError::Template {
        name: name.to_string(),
        reason,
    };
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(name, &path, e)),
    };
    if !meta.is_file() {
        return Err(fail(format!("{} is not a file", path.display())));
    }
    if meta.len() > MAX_TEMPLATE_BYTES {
        return Err(fail(format!("{} is larger than 1 MiB", path.display())));
    }
    std::fs::read_to_string(&path)
        .map(Some)
        .map_err(|e| io_error(name, &path, e))
}

/// Unreadable files: a permission or encoding problem stays until somebody fixes it; other
/// I/O trouble (a network file system) may pass.
fn io_error(name: &str, path: &Path, e: std::io::Error) -> RenderError {
    let reason = format!("cannot read {}: {e}", path.display());
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::InvalidData => {
            RenderError::Template {
                name: name.to_string(),
                reason,
            }
        }
        _ => RenderError::Lookup(format!("mail template {name}: {reason}")),
    }
}

/// A rendered mail's parts.
pub(super) struct Parts {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// Suffix of the name under which a template's HTML block is compiled (auto-escaped).
const HTML_SUFFIX: &str = "#html";

/// Our files are read with `trim_blocks` and `lstrip_blocks` (a tag alone on its line leaves
/// no blank line); the original's with Jinja2's defaults, so they render as they did.
fn environment(style: Style) -> Environment<'static> {
    let mut env = Environment::new();
    if style == Style::Blocks
        && let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
    {
        env.set_syntax(syntax);
    }
    // minijinja's HTML escaping also turns `/` into `&#x2f;`, which leaves links in the HTML
    // part hard to read and to search for; escaping `& < > " '` is all HTML needs.
    env.set_formatter(|out, state, value| {
        if *state.auto_escape() != AutoEscape::Html || value.is_safe() {
            return minijinja::escape_formatter(out, state, value);
        }
        let escaped = text::escape_html(&value.to_string());
        out.write_str(&escaped).map_err(minijinja::Error::from)
    });
    env.set_auto_escape_callback(|name| {
        if name.ends_with(HTML_SUFFIX) {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

/// Render the chosen template with our context plus `vars`.
pub(super) fn render(
    chosen: &Chosen,
    ctx: &MailContext,
    vars: Value,
    lang: Language,
) -> Result<Parts, RenderError> {
    let mut root = serde_json::to_value(ctx).map_err(|e| RenderError::Template {
        name: chosen.name.clone(),
        reason: format!("context: {e}"),
    })?;
    if let Value::Object(map) = &mut root {
        map.insert("vars".into(), vars);
    }
    match chosen.style {
        Style::Blocks => render_blocks(chosen, &root, lang),
        Style::Original => render_original(chosen, &root),
    }
}

fn template_error(name: &str, e: &minijinja::Error) -> RenderError {
    let mut reason = e.to_string();
    if let Some(detail) = e.detail()
        && !reason.contains(detail)
    {
        reason = format!("{reason} ({detail})");
    }
    RenderError::Template {
        name: name.to_string(),
        reason,
    }
}

fn render_blocks(chosen: &Chosen, root: &Value, lang: Language) -> Result<Parts, RenderError> {
    let err = |e: minijinja::Error| template_error(&chosen.name, &e);
    let mut env = environment(Style::Blocks);
    let plain_name = chosen.name.clone();
    let html_name = format!("{}{HTML_SUFFIX}", chosen.name);
    env.add_template_owned(plain_name.clone(), chosen.source.to_string())
        .map_err(err)?;
    env.add_template_owned(html_name.clone(), chosen.source.to_string())
        .map_err(err)?;
    let block = |template: &str, block: &str| -> Result<Option<String>, RenderError> {
        let t = env.get_template(template).map_err(err)?;
        let mut captured = t
            .render_captured(minijinja::Value::from(Serde(root)))
            .map_err(err)?;
        match captured.with_state_mut(|s| s.render_block(block)) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == ErrorKind::UnknownBlock => Ok(None),
            Err(e) => Err(err(e)),
        }
    };
    let subject = block(&plain_name, "subject")?.unwrap_or_default();
    let subject = one_line(&subject);
    if subject.is_empty() {
        return Err(RenderError::Template {
            name: chosen.name.clone(),
            reason: "the subject block is missing or renders empty".into(),
        });
    }
    let html = block(&html_name, "html")?
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    let text = match block(&plain_name, "text")?.filter(|t| !t.trim().is_empty()) {
        Some(t) => finish_text(&t),
        None => match &html {
            Some(h) => text::html_to_text(h),
            None => {
                return Err(RenderError::Template {
                    name: chosen.name.clone(),
                    reason: "it has neither a text nor an html block".into(),
                });
            }
        },
    };
    let html = html.map(|h| html_document(&h, &subject, lang));
    Ok(Parts {
        subject,
        text,
        html,
    })
}

fn render_original(chosen: &Chosen, root: &Value) -> Result<Parts, RenderError> {
    let err = |e: minijinja::Error| template_error(&chosen.name, &e);
    let mut env = environment(Style::Original);
    env.add_template_owned(chosen.name.clone(), chosen.source.to_string())
        .map_err(err)?;
    let rendered = env
        .get_template(&chosen.name)
        .map_err(err)?
        .render(minijinja::Value::from(Serde(root)))
        .map_err(err)?;
    let (subject, body) =
        super::compat::split_subject(&rendered).ok_or_else(|| RenderError::Template {
            name: chosen.name.clone(),
            reason: "the first line must be `Subject: …`, followed by a blank line and the body"
                .into(),
        })?;
    let subject = one_line(&subject);
    if subject.is_empty() {
        return Err(RenderError::Template {
            name: chosen.name.clone(),
            reason: "the subject renders empty".into(),
        });
    }
    Ok(Parts {
        subject,
        text: text::html_to_text(&body),
        html: Some(body),
    })
}

/// A header value on one line: white space runs (line breaks included) become one space.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trailing spaces off every line, no blank lines at the ends, one final newline.
fn finish_text(t: &str) -> String {
    let lines: Vec<&str> = t.lines().map(str::trim_end).collect();
    let mut text = lines.join("\n").trim_matches('\n').to_string();
    text.push('\n');
    text
}

/// Our html blocks are body fragments; wrap them in a document with the charset declared.
fn html_document(body: &str, subject: &str, lang: Language) -> String {
    let head = body.get(..15).unwrap_or(body).to_ascii_lowercase();
    if head.starts_with("<!doctype") || head.starts_with("<html") {
        return format!("{body}\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n</head>\n<body style=\"font-family: Arial, sans-serif; \
         font-size: 14px; line-height: 1.45; color: #333;\">\n{body}\n</body>\n</html>\n",
        lang.as_str(),
        text::escape_html(subject)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mail_kind_has_a_builtin_template_in_both_languages() {
        for kind in NoticeKind::ALL {
            for lang in Language::ALL {
                let found = builtin(lang, kind);
                // An imported mail brings its text along and has no template.
                let templated = kind.channel() == crate::domain::Channel::Mail
                    && kind != NoticeKind::ImportedMail;
                assert_eq!(found.is_ok(), templated, "{lang}/{kind}");
                if let Ok(c) = found {
                    assert_eq!(c.style, Style::Blocks, "{lang}/{kind}");
                }
            }
        }
    }

    #[test]
    fn names_cannot_leave_the_directory() {
        for bad in ["../x.j2", "/etc/passwd", ".hidden", "a/b.j2", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("imported-1.j2").is_ok());
    }

    #[test]
    fn one_line_subjects() {
        assert_eq!(one_line("  a\r\n b\tc \n"), "a b c");
    }
}
