//! Arguments shared by several commands: e-mail lists, rooms, meeting ids, and the guard
//! against passwords typed into chat.
//!
//! Users are named by e-mail address. The bot maps mentions of Matrix users to addresses
//! before it calls the parser (a mention's body text is only a display name); a Matrix id
//! typed by hand (`@bob:uni.example`) is refused here with a request for the address, and
//! [`user_ids`] lists them so the bot can replace the ones it can map first.

use super::error::{Fail, shown};
use super::lex::Word;
use crate::domain::ids::{Email, MeetingId, RoomRef};
use crate::domain::meeting::Recipient;
use std::collections::BTreeMap;

/// Matrix user ids (`@localpart:server`) typed in `text`, in order.
pub fn user_ids(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';'))
        .map(|w| w.trim_end_matches(['.', '!', '?', ')', '>']))
        .map(|w| w.trim_start_matches(['(', '<']))
        .filter(|w| is_user_id(w))
        .collect()
}

fn is_user_id(w: &str) -> bool {
    w.strip_prefix('@')
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(local, server)| !local.is_empty() && !server.is_empty())
}

/// One e-mail address; a Matrix id gets a request for the address.
pub(crate) fn email(w: &Word) -> Result<Email, Fail> {
    let t = w.text.trim();
    if is_user_id(t) {
        return Err(Fail::new(format!(
            "{} is a Matrix user; I need their e-mail address (the one they use in \
             Greenlight). Write the address instead.",
            shown(t)
        )));
    }
    let t = t.strip_prefix("mailto:").unwrap_or(t);
    let t = t.trim_start_matches('<').trim_end_matches('>');
    t.parse::<Email>().map_err(|e| {
        Fail::new(format!(
            "{} is not an e-mail address: {}.",
            shown(t),
            e.reason
        ))
    })
}

/// A list of addresses separated by spaces, commas or "and"; at least one.
pub(crate) fn emails(words: &[Word]) -> Result<BTreeMap<Email, Recipient>, Fail> {
    let mut out = BTreeMap::new();
    for w in words.iter().filter(|w| !w.is_any(&["and", "&"])) {
        out.insert(email(w)?, Recipient::default());
    }
    if out.is_empty() {
        return Err(Fail::new("Whom? Give one or more e-mail addresses."));
    }
    Ok(out)
}

/// A Greenlight room id (or a pasted room URL).
pub(crate) fn room(w: &Word) -> Result<RoomRef, Fail> {
    w.text.parse::<RoomRef>().map_err(|e| {
        Fail::new(format!(
            "{} is not a room id: {} (the id is the end of the room's link).",
            shown(&w.text),
            e.reason
        ))
    })
}

/// Exactly one word: the room.
pub(crate) fn one_room(words: &[Word]) -> Result<RoomRef, Fail> {
    match words {
        [w] => room(w),
        [] => Err(Fail::new("Which room? Give its id, e.g. abc-def-ghi.")),
        _ => Err(Fail::new(format!(
            "A room is named by one id, e.g. abc-def-ghi, not {}.",
            shown(&super::lex::join(words))
        ))),
    }
}

/// Exactly one word: the meeting id.
pub(crate) fn meeting_id(words: &[Word]) -> Result<MeetingId, Fail> {
    let w = match words {
        [w] => w,
        [] => {
            return Err(Fail::new(
                "Which meeting? Give its id; `meetings` lists them.",
            ));
        }
        _ => {
            return Err(Fail::new(format!(
                "A meeting is named by its id (one word), not {}; `meetings` lists them.",
                shown(&super::lex::join(words))
            )));
        }
    };
    w.text.parse::<MeetingId>().map_err(|e| {
        Fail::new(format!(
            "{} is not a meeting id: {}; `meetings` lists them.",
            shown(&w.text),
            e.reason
        ))
    })
}

const PASSWORD_WORDS: &[&str] = &[
    "password", "passwort", "passwd", "pwd", "pw", "pass", "kennwort", "secret",
];

/// A password must never be typed into chat: the room keeps it for everyone in it, forever.
pub(crate) fn password_refusal() -> Fail {
    Fail::new(
        "Please don't send passwords in chat: the room history keeps them. Leave the \
         password out; the user sets one with Greenlight's “Forgot password”, or signs in \
         through your identity provider. If a password was just sent, delete (redact) the \
         message and change that password.",
    )
}

/// `password=…` / `pw: …` anywhere in a command.
pub(crate) fn carries_password(words: &[Word]) -> bool {
    words.iter().filter(|w| !w.quoted).any(|w| {
        let lower = w.lower();
        let key = lower.split(['=', ':']).next().unwrap_or("");
        lower.len() > key.len() && PASSWORD_WORDS.contains(&key.trim_start_matches('-'))
    })
}

/// A word of a person's name that looks like a password (`Hunter2!`), or a password keyword.
pub(crate) fn looks_like_password(w: &Word) -> bool {
    let t = w.text.as_str();
    let lower = t.to_lowercase();
    let bare = lower.trim_start_matches('-').trim_end_matches([':', '=']);
    let keyword = PASSWORD_WORDS.contains(&bare);
    let digit = t.chars().any(|c| c.is_ascii_digit());
    let symbol = t.chars().any(|c| "!#$%&*+=/\\|<>{}[]^~@?§".contains(c));
    keyword || (digit && t.chars().any(char::is_alphabetic)) || symbol
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::lex::words;

    #[test]
    fn user_ids_in_text() {
        assert_eq!(
            user_ids("share room x with @bob:uni.example, (@c:x.org) bob@uni.example @"),
            ["@bob:uni.example", "@c:x.org"]
        );
    }

    #[test]
    fn email_lists() {
        let m = emails(&words(
            "Bob@Uni.example and carol@uni.example, mailto:d@x.org",
        ))
        .unwrap();
        assert_eq!(m.len(), 3);
        assert!(m.contains_key(&"bob@uni.example".parse().unwrap()));
        let e = emails(&words("@bob:uni.example")).unwrap_err();
        assert!(e.message.contains("Matrix user"), "{}", e.message);
        assert!(
            emails(&words("bob"))
                .unwrap_err()
                .message
                .contains("not an e-mail")
        );
        assert!(emails(&[]).is_err());
    }

    #[test]
    fn passwords_are_noticed() {
        assert!(carries_password(&words(
            "create user a@b.org Bob password=hunter2"
        )));
        assert!(carries_password(&words(
            "create user a@b.org Bob pw: hunter2"
        )));
        assert!(carries_password(&words("x --password=abc")));
        assert!(!carries_password(&words(
            "schedule meeting Password workshop tomorrow 10:00"
        )));
        assert!(!carries_password(&words(
            "schedule meeting “pw=x” tomorrow 10:00"
        )));
        let w = |s: &str| Word {
            text: s.into(),
            quoted: false,
        };
        assert!(looks_like_password(&w("Hunter2!")));
        assert!(looks_like_password(&w("password")));
        assert!(!looks_like_password(&w("Müller-Lüdenscheidt")));
        assert!(!looks_like_password(&w("O'Brien")));
    }
}
