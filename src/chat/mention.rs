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
}
