//! Validated newtypes, built once at the edge (`TryFrom<&str>` / `FromStr`) so inner code never
//! handles raw strings for identities, addresses or secrets.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Why a value was refused at the edge; the text is meant for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not valid: {reason}")]
pub struct InvalidValue {
    pub what: &'static str,
    pub value: String,
    pub reason: String,
}

impl InvalidValue {
    pub fn new(what: &'static str, value: &str, reason: impl Into<String>) -> Self {
        // Values are echoed to users; cap them so a pasted blob cannot flood a reply.
        let value: String = value.chars().take(80).collect();
        Self {
            what,
            value,
            reason: reason.into(),
        }
    }
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $what:literal, $check:path) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $check(s).map(Self).map_err(|reason| InvalidValue::new($what, s, reason))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidValue;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

fn check_key(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("it is empty".into());
    }
    if t.len() > 128 {
        return Err("it is longer than 128 characters".into());
    }
    if let Some(c) = t
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')))
    {
        return Err(format!(
            "{c:?} is not allowed (use letters, digits, '-', '_', '.', '@')"
        ));
    }
    Ok(t.to_string())
}

/// BBB meetingID rule (bbb-api.md §2.1): 2–256 characters, no comma.
fn check_bbb_meeting_id(s: &str) -> Result<String, String> {
    let n = s.chars().count();
    if !(2..=256).contains(&n) {
        return Err("a BBB meeting ID must be between 2 and 256 characters".into());
    }
    if s.contains(',') {
        return Err("a BBB meeting ID cannot contain ','".into());
    }
    if s.chars().any(char::is_control) {
        return Err("control characters are not allowed".into());
    }
    Ok(s.to_string())
}

/// Greenlight room uid / friendly id: lower-case letters, digits and dashes (`abc-def-ghi`,
/// v2 `abc-d3f-gh1` or v3 `abc-def-ghi-jkl`), as typed in a room URL.
fn check_room(s: &str) -> Result<String, String> {
    let t = s.trim();
    // Accept a pasted room URL: Greenlight 3's `…/rooms/<id>[/join]`, else (Greenlight 2's
    // `…/b/<id>`, the short `…/<id>`) the last path segment; no query or fragment.
    let t = t
        .split(['?', '#'])
        .next()
        .unwrap_or(t)
        .trim_end_matches('/');
    let t = match t.split_once("/rooms/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => t.rsplit('/').next().unwrap_or(t),
    };
    if t.is_empty() || t.len() > 64 {
        return Err("a room is named by its id, e.g. abc-def-ghi".into());
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("a room id has only letters, digits and '-', e.g. abc-def-ghi".into());
    }
    Ok(t.to_ascii_lowercase())
}

fn check_email(s: &str) -> Result<String, String> {
    let t = s.trim();
    let (local, domain) = t
        .rsplit_once('@')
        .ok_or_else(|| "an e-mail address needs an '@'".to_string())?;
    if local.is_empty() || local.len() > 64 {
        return Err("the part before '@' is empty or too long".into());
    }
    if domain.len() < 3 || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.')
    {
        return Err("the domain after '@' is not a domain name".into());
    }
    let bad = |c: char| c.is_whitespace() || c.is_control() || "<>\"'(),;:\\[]`".contains(c);
    if local.chars().any(bad) || domain.chars().any(bad) || domain.contains('@') {
        return Err("it contains characters not allowed in an address".into());
    }
    // Domain parts are case-insensitive; local parts are lower-cased too because Greenlight
    // looks users up by lower-cased e-mail.
    Ok(t.to_lowercase())
}

fn check_record_id(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() || t.len() > 128 || t.contains(',') || t.chars().any(char::is_whitespace) {
        return Err("a recording id looks like 183f0bf3a098…-1531155809613".into());
    }
    Ok(t.to_string())
}

string_newtype!(
    /// Our key for a BBB server (`bbb` in the seed's `servers:` map).
    ServerId, "server id", check_key);
string_newtype!(
    /// Our key for a scheduled meeting (the seed's `meetings:` map key / API `id`).
    MeetingId, "meeting id", check_key);
string_newtype!(
    /// The meetingID sent to BBB.
    BbbMeetingId, "BBB meeting ID", check_bbb_meeting_id);
string_newtype!(
    /// A Greenlight room, by its uid / friendly id (`abc-def-ghi`).
    RoomRef, "room", check_room);
string_newtype!(
    /// A lower-cased, syntactically checked e-mail address.
    Email, "e-mail address", check_email);
string_newtype!(
    /// A BBB recording id.
    RecordId, "recording id", check_record_id);

impl Email {
    /// The part before '@', used as a display name when none is given (as the seed does).
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or(&self.0)
    }
}

/// A secret (BBB shared secret, SMTP password, user password). Debug and Display never show it;
/// it serialises as-is only because the store must keep it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        let e: Email = " Bob@Uni.Example ".parse().unwrap();
        assert_eq!(e.as_str(), "bob@uni.example");
        assert_eq!(e.local_part(), "bob");
        for bad in [
            "bob",
            "bob@",
            "@uni.example",
            "bo b@uni.example",
            "a'--@x.org",
            "a@b",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn room_accepts_pasted_url() {
        let r: RoomRef = "https://gl.uni.example/b/Abc-Def-Ghi/".parse().unwrap();
        assert_eq!(r.as_str(), "abc-def-ghi");
        for url in [
            "https://gl.uni.example/rooms/linear-algebra/join",
            "https://gl.uni.example/rooms/linear-algebra",
            "https://gl.uni.example/rooms/linear-algebra/join?x=1#top",
            "https://gl.uni.example/linear-algebra",
        ] {
            let r: RoomRef = url.parse().unwrap();
            assert_eq!(r.as_str(), "linear-algebra", "{url}");
        }
        assert!("abc def".parse::<RoomRef>().is_err());
        assert!("x'; drop table rooms;--".parse::<RoomRef>().is_err());
    }

    #[test]
    fn bbb_meeting_id_rules() {
        assert!("a".parse::<BbbMeetingId>().is_err());
        assert!("a,b".parse::<BbbMeetingId>().is_err());
        assert!("Demo Meeting".parse::<BbbMeetingId>().is_ok());
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }

    #[test]
    fn server_id_rejects_odd_chars() {
        assert!("bbb".parse::<ServerId>().is_ok());
        assert!("bbb/../x".parse::<ServerId>().is_err());
        assert!("".parse::<ServerId>().is_err());
    }
}
