//! Room options: the trait speaks Greenlight 3 names (`record`, `guestPolicy`, …); Greenlight 2
//! keeps five booleans in the `rooms.room_settings` JSON string and the access codes in their
//! own columns. This module maps between the two (greenlight.md §10.1, §10.3).

use crate::greenlight::GreenlightError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The v3 names this backend understands, in the order they are listed to users.
pub const KNOWN_OPTIONS: [&str; 7] = [
    "record",
    "muteOnStart",
    "guestPolicy",
    "glAnyoneCanStart",
    "glAnyoneJoinAsModerator",
    "glViewerAccessCode",
    "glModeratorAccessCode",
];

/// v3 names of the boolean room settings and their v2 JSON keys, in the order Greenlight 2
/// writes the keys (`RoomsController#create_room_settings_string`).
const BOOL_SETTINGS: [(&str, &str); 4] = [
    ("muteOnStart", "muteOnStart"),
    ("glAnyoneCanStart", "anyoneCanStart"),
    ("glAnyoneJoinAsModerator", "joinModerator"),
    ("record", "recording"),
];
const APPROVAL_KEY: &str = "requireModeratorApproval";
/// Key order of Greenlight 2's own JSON.
const V2_KEY_ORDER: [&str; 5] = [
    "muteOnStart",
    APPROVAL_KEY,
    "anyoneCanStart",
    "joinModerator",
    "recording",
];

/// Greenlight caps codes at nothing; we cap at a length no form would ever send.
const MAX_CODE_CHARS: usize = 256;

/// A room's options as stored by Greenlight 2, being edited.
#[derive(Debug, Clone, PartialEq)]
pub struct V2Options {
    /// The `room_settings` object, unknown keys (forks, later versions) kept as they are.
    settings: Map<String, Value>,
    pub access_code: Option<String>,
    pub moderator_access_code: Option<String>,
}

impl V2Options {
    /// A new (non-home) room as Greenlight's create form writes it: all five keys, all false.
    pub fn new_room() -> Self {
        let settings = V2_KEY_ORDER
            .iter()
            .map(|k| (k.to_string(), Value::Bool(false)))
            .collect();
        Self {
            settings,
            access_code: None,
            moderator_access_code: None,
        }
    }

    /// Read what a room row holds. Unreadable JSON counts as `{ }` (what Greenlight itself
    /// falls back to), with a warning.
    pub fn from_row(
        room_settings: Option<&str>,
        access_code: Option<&str>,
        moderator_access_code: Option<&str>,
    ) -> Self {
        let settings = match room_settings.map(serde_json::from_str::<Value>) {
            None => Map::new(),
            Some(Ok(Value::Object(map))) => map,
            Some(_) => {
                tracing::warn!("room_settings is not a JSON object; reading it as empty");
                Map::new()
            }
        };
        Self {
            settings,
            access_code: non_empty(access_code),
            moderator_access_code: non_empty(moderator_access_code),
        }
    }

    /// Apply one option by its v3 name.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), GreenlightError> {
        if let Some((_, key)) = BOOL_SETTINGS.iter().find(|(v3, _)| *v3 == name) {
            let on = parse_bool(name, value)?;
            self.settings.insert(key.to_string(), Value::Bool(on));
            return Ok(());
        }
        match name {
            "guestPolicy" => {
                let on = parse_guest_policy(value)?;
                self.settings
                    .insert(APPROVAL_KEY.to_string(), Value::Bool(on));
            }
            "glViewerAccessCode" => self.access_code = access_code(name, value)?,
            "glModeratorAccessCode" => self.moderator_access_code = access_code(name, value)?,
            "glRequireAuthentication" | "serverTag" | "serverTagRequired" => {
                return Err(GreenlightError::Invalid(format!(
                    "'{name}' is not a per-room option in Greenlight 2; options: {}",
                    KNOWN_OPTIONS.join(", ")
                )));
            }
            _ => {
                return Err(GreenlightError::Invalid(format!(
                    "unknown room option '{name}'; options: {}",
                    KNOWN_OPTIONS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Apply several options; stops at the first bad one (the caller then writes nothing).
    pub fn set_all(&mut self, options: &BTreeMap<String, String>) -> Result<(), GreenlightError> {
        options.iter().try_for_each(|(k, v)| self.set(k, v))
    }

    /// Set a code given outside the option map (`NewRoom.access_code`); a conflicting value in
    /// the map is an error rather than a silent pick.
    pub fn set_code_field(
        &mut self,
        option: &str,
        field: Option<&str>,
        options: &BTreeMap<String, String>,
    ) -> Result<(), GreenlightError> {
        let Some(field) = field else {
            return Ok(());
        };
        if let Some(other) = options.get(option)
            && other != field
        {
            return Err(GreenlightError::Invalid(format!(
                "two different values for {option}: the access code and the option disagree"
            )));
        }
        self.set(option, field)
    }

    /// The `room_settings` string: the five known keys in Greenlight's order (missing ones as
    /// false, as Greenlight's settings form always writes all five), then any unknown keys.
    pub fn settings_json(&self) -> String {
        let mut parts: Vec<String> = V2_KEY_ORDER
            .iter()
            .map(|k| {
                let on = self.settings.get(*k).is_some_and(truthy);
                format!("{}:{on}", json_string(k))
            })
            .collect();
        parts.extend(
            self.settings
                .iter()
                .filter(|(k, _)| !V2_KEY_ORDER.contains(&k.as_str()))
                .map(|(k, v)| format!("{}:{v}", json_string(k))),
        );
        format!("{{{}}}", parts.join(","))
    }

    /// The options under their v3 names, as `GlRoom.options` reports them.
    pub fn v3_view(&self) -> BTreeMap<String, String> {
        let flag = |key: &str| self.settings.get(key).is_some_and(truthy);
        let mut out: BTreeMap<String, String> = BOOL_SETTINGS
            .iter()
            .map(|(v3, key)| (v3.to_string(), flag(key).to_string()))
            .collect();
        let policy = if flag(APPROVAL_KEY) {
            "ASK_MODERATOR"
        } else {
            "ALWAYS_ACCEPT"
        };
        out.insert("guestPolicy".into(), policy.into());
        out.insert(
            "glViewerAccessCode".into(),
            self.access_code.clone().unwrap_or_default(),
        );
        out.insert(
            "glModeratorAccessCode".into(),
            self.moderator_access_code.clone().unwrap_or_default(),
        );
        out
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Greenlight writes JSON booleans; older tools wrote strings or numbers.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.as_str(), "true" | "1"),
        Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

fn parse_bool(name: &str, value: &str) -> Result<bool, GreenlightError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(GreenlightError::Invalid(format!(
            "{name} takes true or false, not '{value}'"
        ))),
    }
}

/// v2 only knows "ask the moderator" (`requireModeratorApproval`) or not.
fn parse_guest_policy(value: &str) -> Result<bool, GreenlightError> {
    match value.trim().to_ascii_uppercase().as_str() {
        "ASK_MODERATOR" => Ok(true),
        "ALWAYS_ACCEPT" => Ok(false),
        "ALWAYS_DENY" => Err(GreenlightError::Invalid(
            "Greenlight 2 cannot deny guests; guestPolicy is ASK_MODERATOR or ALWAYS_ACCEPT".into(),
        )),
        _ => Err(GreenlightError::Invalid(format!(
            "guestPolicy is ASK_MODERATOR or ALWAYS_ACCEPT, not '{value}'"
        ))),
    }
}

/// Codes are stored verbatim (Greenlight compares them as typed); "" removes the code.
fn access_code(name: &str, value: &str) -> Result<Option<String>, GreenlightError> {
    if value.chars().count() > MAX_CODE_CHARS {
        return Err(GreenlightError::Invalid(format!(
            "{name} is longer than {MAX_CODE_CHARS} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(GreenlightError::Invalid(format!(
            "{name} contains control characters"
        )));
    }
    Ok(non_empty(Some(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn new_room_json_is_greenlights() {
        let mut o = V2Options::new_room();
        o.set_all(&opts(&[("muteOnStart", "true"), ("record", "TRUE")]))
            .unwrap();
        assert_eq!(
            o.settings_json(),
            r#"{"muteOnStart":true,"requireModeratorApproval":false,"anyoneCanStart":false,"joinModerator":false,"recording":true}"#
        );
    }

    #[test]
    fn home_room_reads_as_all_off_and_keeps_unknown_keys() {
        let mut o = V2Options::from_row(Some("{ }"), None, Some(""));
        let v = o.v3_view();
        assert_eq!(v["record"], "false");
        assert_eq!(v["guestPolicy"], "ALWAYS_ACCEPT");
        assert_eq!(v["glModeratorAccessCode"], "");
        o = V2Options::from_row(Some(r#"{"fork":"x","joinModerator":"1"}"#), None, None);
        o.set("guestPolicy", "ask_moderator").unwrap();
        assert_eq!(
            o.settings_json(),
            r#"{"muteOnStart":false,"requireModeratorApproval":true,"anyoneCanStart":false,"joinModerator":true,"recording":false,"fork":"x"}"#
        );
    }

    #[test]
    fn bad_names_and_values_are_refused() {
        let mut o = V2Options::new_room();
        let err = o.set("mute", "true").unwrap_err().to_string();
        assert!(err.contains("muteOnStart, guestPolicy"), "{err}");
        assert!(o.set("glRequireAuthentication", "true").is_err());
        assert!(o.set("guestPolicy", "ALWAYS_DENY").is_err());
        assert!(o.set("record", "maybe").is_err());
        assert!(o.set("glViewerAccessCode", "a\nb").is_err());
        o.set("glViewerAccessCode", "1'2%3_").unwrap();
        assert_eq!(o.access_code.as_deref(), Some("1'2%3_"));
        o.set("glViewerAccessCode", "").unwrap();
        assert_eq!(o.access_code, None);
    }

    #[test]
    fn code_field_must_agree_with_option() {
        let mut o = V2Options::new_room();
        let m = opts(&[("glViewerAccessCode", "111111")]);
        assert!(
            o.set_code_field("glViewerAccessCode", Some("222222"), &m)
                .is_err()
        );
        o.set_code_field("glViewerAccessCode", Some("111111"), &m)
            .unwrap();
        assert_eq!(o.access_code.as_deref(), Some("111111"));
    }
}
