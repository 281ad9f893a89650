//! Why a command could not be understood, worded for the person who typed it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A command that could not be understood. `Display` gives the full reply text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseError {
    pub message: String,
    /// The usage line of the command it was about, with the prefix (`!bbb delete room <room>`).
    pub usage: Option<String>,
    /// A corrected command to copy, or the command word that was probably meant.
    pub did_you_mean: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(usage) = &self.usage {
            write!(f, "\nUsage: {usage}")?;
        }
        if let Some(dym) = &self.did_you_mean {
            write!(f, "\nDid you mean: {dym}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// The parser's internal error: the message, and the command whose usage line goes with it
/// (filled in with the prefix at the top).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    pub message: String,
    pub command: Option<&'static str>,
    pub did_you_mean: Option<String>,
}

impl Fail {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            command: None,
            did_you_mean: None,
        }
    }

    /// Attach the usage of `command` (a name from the command table) unless one is set.
    pub fn of(mut self, command: &'static str) -> Self {
        self.command.get_or_insert(command);
        self
    }

    pub fn suggest(mut self, text: impl Into<String>) -> Self {
        self.did_you_mean = Some(text.into());
        self
    }
}

/// A user value quoted in a message, cut short so a pasted blob cannot flood the reply.
pub(crate) fn shown(s: &str) -> String {
    let cut: String = s.chars().take(60).collect();
    if cut.len() < s.len() {
        format!("“{cut}…”")
    } else {
        format!("“{cut}”")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_usage_and_suggestion() {
        let e = ParseError {
            message: "I don't know “shedule”.".into(),
            usage: Some("!bbb help".into()),
            did_you_mean: Some("!bbb schedule meeting".into()),
        };
        assert_eq!(
            e.to_string(),
            "I don't know “shedule”.\nUsage: !bbb help\nDid you mean: !bbb schedule meeting"
        );
    }

    #[test]
    fn shown_cuts_long_values() {
        assert_eq!(shown("abc"), "“abc”");
        assert!(shown(&"x".repeat(100)).ends_with("…”"));
    }
}
