//! Is a message a command for the bot, and where does the command start?
//!
//! A message is for the bot when (after any reply fallback) it starts with the prefix, with a
//! mention of the bot followed by `:` or `,`, or when it is in a direct chat with the bot.
//! The MXID (`@bot:hs`) and its localpart (`bot`) always count as a mention; the display name
//! only when the event's `m.mentions` names the bot, because display names are chosen freely
//! and a word such as "Bot:" at the start of a chat line is not always meant for the bot.
//! When `m.mentions` names the bot, the name may also be followed by just a space (clients
//! put the display name of a pill there).

/// The command in `body` (without prefix or mention), or None when the message is not for
/// the bot.
pub fn command_text<'a>(
    body: &'a str,
    prefix: &str,
    bot_user_id: &str,
    bot_display_name: Option<&str>,
    mentioned_bot: bool,
    is_direct: bool,
) -> Option<&'a str> {
    let text = strip_reply_fallback(body).trim();
    if let Some(rest) = strip_word(text, prefix) {
        return Some(rest);
    }
    for name in mention_forms(bot_user_id, bot_display_name, mentioned_bot) {
        if let Some(rest) = strip_mention(text, name, mentioned_bot) {
            // "@bot: !bbb help" works too.
            return Some(strip_word(rest, prefix).unwrap_or(rest));
        }
    }
    is_direct.then_some(text)
}

/// The body without the quoted lines (`> …`) a client puts before a reply, and the blank
/// line after them.
fn strip_reply_fallback(body: &str) -> &str {
    let mut rest = body;
    while rest.starts_with('>') {
        match rest.find('\n') {
            Some(i) => rest = &rest[i + 1..],
            None => return "",
        }
    }
    rest
}

/// The names the bot may be addressed by, longest first so that `@bot:hs` wins over `bot`.
fn mention_forms<'n>(
    user_id: &'n str,
    display_name: Option<&'n str>,
    mentioned: bool,
) -> Vec<&'n str> {
    let localpart = user_id
        .strip_prefix('@')
        .and_then(|rest| rest.split(':').next())
        .filter(|l| !l.is_empty());
    let mut forms: Vec<&str> = [Some(user_id), localpart]
        .into_iter()
        .flatten()
        .filter(|f| !f.trim().is_empty())
        .collect();
    if mentioned && let Some(d) = display_name.map(str::trim).filter(|d| !d.is_empty()) {
        forms.push(d);
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms
}

/// `text` after `name` and `:` / `,` (or a space when `loose`), case-insensitive.
fn strip_mention<'a>(text: &'a str, name: &str, loose: bool) -> Option<&'a str> {
    let rest = strip_head(text, name)?;
    if let Some(r) = rest.strip_prefix([':', ',']) {
        return Some(r.trim_start());
    }
    if loose { strip_word(text, name) } else { None }
}

/// `text` after the word `word` and whitespace (or the end); an empty word never matches.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    if word.is_empty() {
        return None;
    }
    let rest = strip_head(text, word)?;
    if rest.is_empty() {
        return Some(rest);
    }
    rest.starts_with(char::is_whitespace)
        .then(|| rest.trim_start())
}

/// `text` without a case-insensitive leading `head`.
fn strip_head<'a>(text: &'a str, head: &str) -> Option<&'a str> {
    let n = head.len();
    let start = text.get(..n)?;
    start.eq_ignore_ascii_case(head).then(|| &text[n..])
}

/// The body with each user pill written as its Matrix ID. Element puts a picked user's display
/// name into `body` ("share room … with Bob Smith") and the ID only into `formatted_body`
/// (`<a href="https://matrix.to/#/@bob:uni.example">Bob Smith</a>`); the bot needs the ID.
/// Pills of `skip` (the bot itself, whose name starts the command) stay as they are; a display
/// name replaces only whole words, the first occurrence per pill.
pub fn pills_to_ids(body: &str, formatted: Option<&str>, skip: &str) -> String {
    let mut out = body.to_string();
    let Some(html) = formatted else {
        return out;
    };
    for (user, name) in user_pills(html) {
        if user == skip || name.is_empty() || name == user {
            continue;
        }
        if let Some(at) = find_word(&out, &name) {
            out.replace_range(at..at + name.len(), &user);
        }
    }
    out
}

/// `(user ID, link text)` of every `matrix.to` user link in `html`.
fn user_pills(html: &str) -> Vec<(String, String)> {
    const LINK: &str = "href=\"https://matrix.to/#/";
    let mut pills = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(LINK) {
        rest = &rest[i + LINK.len()..];
        let Some(end) = rest.find('"') else { break };
        let target = percent_decode(rest[..end].split('?').next().unwrap_or_default());
        rest = &rest[end..];
        let Some(open) = rest.find('>') else { break };
        let Some(close) = rest.find("</a>") else {
            break;
        };
        if open >= close {
            continue;
        }
        let text = html_unescape(rest[open + 1..close].trim());
        rest = &rest[close..];
        if target.starts_with('@') && target.contains(':') {
            pills.push((target, text));
        }
    }
    pills
}

/// Byte offset of `word` in `text` standing as whole words (not inside a longer word).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    let mut from = 0;
    while let Some(i) = text.get(from..)?.find(word) {
        let at = from + i;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if boundary(before) && boundary(after) {
            return Some(at);
        }
        from = at + word.chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// `%40` → `@` etc.; malformed escapes stay as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: &str = "@bbb:uni.example";

    fn ct(body: &str, mentioned: bool, direct: bool) -> Option<&str> {
        command_text(body, "!bbb", BOT, Some("BBB Bot"), mentioned, direct)
    }

    #[test]
    fn prefix() {
        assert_eq!(ct("!bbb help", false, false), Some("help"));
        assert_eq!(ct("  !BBB   help  ", false, false), Some("help"));
        assert_eq!(ct("!bbb", false, false), Some(""));
        assert_eq!(ct("!bbbhelp", false, false), None);
        assert_eq!(ct("hello", false, false), None);
    }

    #[test]
    fn mentions() {
        assert_eq!(ct("BBB Bot: help", true, false), Some("help"));
        assert_eq!(ct("BBB Bot help", true, false), Some("help"));
        assert_eq!(ct("BBB Bot: help", false, false), None);
        assert_eq!(ct("bbb: meetings", false, false), Some("meetings"));
        assert_eq!(
            ct("@bbb:uni.example: meetings", false, false),
            Some("meetings")
        );
        assert_eq!(
            ct("@bbb:uni.example, meetings", false, false),
            Some("meetings")
        );
        assert_eq!(ct("bbb, !bbb meetings", false, false), Some("meetings"));
        assert_eq!(ct("bbbx: meetings", false, false), None);
    }

    #[test]
    fn direct_chat_needs_no_prefix() {
        assert_eq!(ct("meetings", false, true), Some("meetings"));
        assert_eq!(ct("!bbb meetings", false, true), Some("meetings"));
    }

    #[test]
    fn reply_fallback_is_dropped() {
        let body = "> <@alice:uni.example> !bbb meetings\n> more\n\n!bbb help";
        assert_eq!(ct(body, false, false), Some("help"));
        assert_eq!(ct("> quoted only", false, true), Some(""));
    }

    #[test]
    fn multibyte_input_does_not_panic() {
        assert_eq!(ct("ü", false, false), None);
        assert_eq!(
            command_text("é!", "!bbb", "@ä:x", Some("ö"), true, false),
            None
        );
    }

    #[test]
    fn pills_become_matrix_ids() {
        let body = "BBB Bot: share room abc-def-ghi with Bob Smith and Carol";
        let html = "<a href=\"https://matrix.to/#/@bbb:uni.example\">BBB Bot</a>: share room \
                    abc-def-ghi with <a href=\"https://matrix.to/#/%40bob%3Auni.example\">Bob Smith</a> \
                    and <a href=\"https://matrix.to/#/@carol:uni.example?via=uni.example\">Carol</a>";
        assert_eq!(
            pills_to_ids(body, Some(html), BOT),
            "BBB Bot: share room abc-def-ghi with @bob:uni.example and @carol:uni.example"
        );
        // Whole words only; rooms and broken HTML are left alone.
        let html = "<a href=\"https://matrix.to/#/@al:x\">Al</a> <a href=\"https://matrix.to/#/!room:x\">r</a> <a href=\"";
        assert_eq!(
            pills_to_ids("Alice and Al", Some(html), BOT),
            "Alice and @al:x"
        );
        assert_eq!(pills_to_ids("no html", None, BOT), "no html");
        assert_eq!(
            pills_to_ids("ü", Some("<a href=\"https://matrix.to/#/%zz\">ü</a>"), BOT),
            "ü"
        );
    }
}
