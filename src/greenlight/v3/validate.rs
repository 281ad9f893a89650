//! Greenlight's own model validations (app/models/*.rb), applied before we write, so the rows
//! we create are rows Greenlight itself would have accepted.

use crate::domain::{Email, RoomRef, Secret};
use crate::greenlight::GreenlightError;

/// `users.name`, `rooms.name`: presence and 1–255 characters.
pub const MAX_NAME_CHARS: usize = 255;
/// `users.email`: 5–255 characters.
const EMAIL_CHARS: std::ops::RangeInclusive<usize> = 5..=255;
/// Symbols Greenlight's password rule counts (users.rb `format:` lookahead), space included.
const PASSWORD_SYMBOLS: &str = "`@%~!#£$\\^&*()][+={}/|:;\"'<>-,.?_ ";

fn invalid(msg: impl Into<String>) -> GreenlightError {
    GreenlightError::Invalid(msg.into())
}

/// A display name: not blank (Rails `presence`), at most 255 characters, stored verbatim.
pub fn name(what: &str, name: &str) -> Result<(), GreenlightError> {
    if name.trim().is_empty() {
        return Err(invalid(format!("the {what} name is empty")));
    }
    let n = name.chars().count();
    if n > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "the {what} name is {n} characters long; Greenlight allows at most {MAX_NAME_CHARS}"
        )));
    }
    Ok(())
}

/// Greenlight's address rule `\A[\w\-.+]+@[\w\-.]+\.[a-z]+\z/i` (ASCII `\w`) and length; our
/// `Email` type is more permissive, and Greenlight would refuse such a user at login/profile.
pub fn email(email: &Email) -> Result<(), GreenlightError> {
    let s = email.as_str();
    let n = s.chars().count();
    if !EMAIL_CHARS.contains(&n) {
        return Err(invalid(format!(
            "e-mail {s} is {n} characters long; Greenlight needs 5 to 255"
        )));
    }
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let ok = s.split_once('@').is_some_and(|(local, domain)| {
        let local_ok = !local.is_empty() && local.chars().all(|c| word(c) || c == '+');
        let domain_ok = domain.rsplit_once('.').is_some_and(|(host, tld)| {
            !host.is_empty()
                && host.chars().all(word)
                && !tld.is_empty()
                && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
        local_ok && domain_ok
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "Greenlight does not accept the e-mail address {s} (letters, digits, '_', '-', '.', '+' before '@'; a domain ending in letters)"
        )))
    }
}

/// A locale code such as `en`, `de`, `pt_BR` or `zh-TW`; default `en`.
pub fn language(language: Option<&str>) -> Result<String, GreenlightError> {
    let lang = language.map(str::trim).unwrap_or("en");
    let ok = (2..=16).contains(&lang.len())
        && lang
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if ok {
        Ok(lang.to_string())
    } else {
        Err(invalid(format!(
            "language {lang:?} is not a locale code such as en, de or pt_BR"
        )))
    }
}

/// An OIDC subject: stored verbatim, but never blank (a blank one matches no login).
pub fn external_id(id: Option<&str>) -> Result<(), GreenlightError> {
    match id {
        Some(s) if s.trim().is_empty() => Err(invalid(
            "the external id is empty; leave it out for local accounts",
        )),
        _ => Ok(()),
    }
}

/// Greenlight's password policy for local accounts: at least 8 characters with a lower-case
/// and an upper-case ASCII letter, a digit and a symbol; at most 255 characters. The message
/// never contains the password.
pub fn password_policy(password: &Secret) -> Result<(), GreenlightError> {
    let p = password.expose();
    let n = p.chars().count();
    let mut missing = Vec::new();
    if n < 8 {
        missing.push("at least 8 characters");
    }
    if !p.chars().any(|c| c.is_ascii_lowercase()) {
        missing.push("a lower-case letter");
    }
    if !p.chars().any(|c| c.is_ascii_uppercase()) {
        missing.push("an upper-case letter");
    }
    if !p.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit");
    }
    if !p.chars().any(|c| PASSWORD_SYMBOLS.contains(c)) {
        missing.push("a symbol");
    }
    if n > MAX_NAME_CHARS {
        return Err(invalid("the password is longer than 255 characters"));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(invalid(format!(
            "Greenlight's password rules need {}",
            missing.join(", ")
        )))
    }
}

/// A custom room id: Rails routes split paths at `.`, `/` and `?`, so such ids are unusable.
pub fn friendly_id(id: &RoomRef) -> Result<String, GreenlightError> {
    let s = id.as_str();
    if s.is_empty() {
        return Err(invalid("the room id is empty"));
    }
    if let Some(c) = s.chars().find(|c| matches!(c, '.' | '/' | '?')) {
        return Err(invalid(format!(
            "room id {s:?} contains {c:?}; Greenlight's room URLs cannot carry '.', '/' or '?'"
        )));
    }
    Ok(s.to_string())
}

/// Free-text option values (access codes, server tags): verbatim, but one line and bounded.
pub fn option_text(name: &str, value: &str) -> Result<String, GreenlightError> {
    if value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "room option {name} cannot contain control characters"
        )));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "room option {name} is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> Email {
        s.parse().expect("test address")
    }

    #[test]
    fn greenlight_email_rule() {
        for ok in ["a.b+c@uni-x.example.org", "x_y@a.de", "o-o@h_1.io"] {
            assert!(email(&e(ok)).is_ok(), "{ok}");
        }
        for bad in ["jürgen@uni.de", "a!b@x.org", "a@x.d3", "a@x.org1"] {
            assert!(email(&e(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_rule() {
        assert!(password_policy(&Secret::new("Greenlight-Fixture1!")).is_ok());
        assert!(password_policy(&Secret::new("Aa1 aaaa")).is_ok());
        let err = password_policy(&Secret::new("hunter2"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"));
        assert!(
            err.contains("upper-case") && err.contains("symbol"),
            "{err}"
        );
        assert!(password_policy(&Secret::new("Aa1äääää")).is_err());
    }

    #[test]
    fn names_and_ids() {
        assert!(name("room", "   ").is_err());
        assert!(name("room", &"ü".repeat(255)).is_ok());
        assert!(name("room", &"ü".repeat(256)).is_err());
        assert!(friendly_id(&"abc.def".parse().unwrap()).is_err());
        assert!(friendly_id(&"abc-def".parse().unwrap()).is_ok());
        assert_eq!(language(None).unwrap(), "en");
        assert!(language(Some("de'; --")).is_err());
    }
}
