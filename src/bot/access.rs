//! Who may talk to the bot and as whom: allow-list and admin patterns from bot-config.yml, the
//! Matrix user → Greenlight e-mail mapping (explicit table, then a rule), and the minimum power
//! level in a room. Pure: the Matrix layer asks, this answers (with a reason to tell a refused
//! user).

use crate::config::MatrixConfig;
use crate::domain::{Actor, Email, Operation, Scope};

/// What a Matrix user may do, decided from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    allowed: Vec<String>,
    admins: Vec<String>,
    email_rule: Option<String>,
    emails: std::collections::BTreeMap<String, Email>,
    min_power_level: i64,
    /// The bot's own homeserver: a rule without `{server}` maps only its users (else
    /// `@ada:elsewhere.example` would become ada@uni.example).
    home_server: String,
}

/// Why a user is turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotAllowed,
    PowerLevel { needed: i64, has: i64 },
    AdminOnly,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAllowed => f.write_str(
                "you are not on this bot's list of allowed users; ask its administrator \
                 to add you (matrix.allowed_users in bot-config.yml)",
            ),
            Self::PowerLevel { needed, has } => write!(
                f,
                "commands in this room need power level {needed}; yours is {has} \
                 (ask a room moderator, or write to the bot in a direct message)"
            ),
            Self::AdminOnly => f.write_str(
                "creating and deleting users, deleting rooms and recordings, the audit log and \
                 the retention rules are for the bot's administrators (matrix.admins in \
                 bot-config.yml)",
            ),
        }
    }
}

impl Access {
    pub fn from_config(c: &MatrixConfig) -> Self {
        Self {
            allowed: c.allowed_users.clone(),
            admins: c.admins.clone(),
            email_rule: c.email_rule.clone(),
            emails: c.emails.clone(),
            min_power_level: c.min_power_level,
            home_server: c
                .user_id
                .split_once(':')
                .map(|(_, server)| server.to_string())
                .unwrap_or_default(),
        }
    }

    /// The local terminal user of `schedulight chat` without a `matrix:` section: an
    /// administrator, as every other local command is.
    pub fn local_admin(user: &str) -> Self {
        let server = user.split_once(':').map(|(_, s)| s).unwrap_or_default();
        Self {
            allowed: vec![user.to_string()],
            admins: vec![user.to_string()],
            email_rule: None,
            emails: Default::default(),
            min_power_level: 0,
            home_server: server.to_string(),
        }
    }

    pub fn is_admin(&self, user: &str) -> bool {
        self.admins.iter().any(|p| matches(p, user))
    }

    /// May `user` give commands at all (admins always may)?
    pub fn may_command(&self, user: &str) -> Result<(), Refusal> {
        if self.is_admin(user) || self.allowed.iter().any(|p| matches(p, user)) {
            Ok(())
        } else {
            Err(Refusal::NotAllowed)
        }
    }

    /// In a group room, is `level` enough? Direct messages skip this check.
    pub fn may_in_room(&self, level: i64) -> Result<(), Refusal> {
        if level >= self.min_power_level {
            Ok(())
        } else {
            Err(Refusal::PowerLevel {
                needed: self.min_power_level,
                has: level,
            })
        }
    }

    /// The Greenlight e-mail of a Matrix user: the table, else the rule.
    pub fn email_of(&self, user: &str) -> Option<Email> {
        if let Some(e) = self.emails.get(user) {
            return Some(e.clone());
        }
        let rule = self.email_rule.as_ref()?;
        let (local, server) = user.strip_prefix('@')?.split_once(':')?;
        if !rule.contains("{server}") && server != self.home_server {
            return None;
        }
        rule.replace("{localpart}", local)
            .replace("{server}", server)
            .parse()
            .ok()
    }

    /// The Matrix user of a Greenlight e-mail (to mention a meeting's owner): the table, else
    /// the rule read backwards when it is `{localpart}@domain` on this homeserver.
    pub fn user_of(&self, email: &Email, homeserver_name: &str) -> Option<String> {
        if let Some((id, _)) = self.emails.iter().find(|(_, e)| *e == email) {
            return Some(id.clone());
        }
        let rule = self.email_rule.as_ref()?;
        let suffix = rule
            .strip_prefix("{localpart}")?
            .replace("{server}", homeserver_name);
        let local = email.as_str().strip_suffix(suffix.as_str())?;
        let plain = !local.is_empty()
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '=' | '-' | '/'));
        plain.then(|| format!("@{local}:{homeserver_name}"))
    }

    /// The Matrix user of a Greenlight e-mail on the bot's own homeserver.
    pub fn owner_user(&self, email: &Email) -> Option<String> {
        self.user_of(email, &self.home_server)
    }

    /// The actor a Matrix user acts as: admins get every scope, allowed users the everyday
    /// ones (no server or mail administration).
    pub fn actor(&self, user: &str) -> Actor {
        let name = format!("matrix:{user}");
        if self.is_admin(user) {
            return Actor::admin(name);
        }
        Actor {
            name,
            scopes: vec![
                Scope::Read,
                Scope::MeetingsWrite,
                Scope::RoomsWrite,
                Scope::UsersWrite,
                Scope::RecordingsWrite,
            ],
        }
    }

    /// Operations only admins may give from chat (user administration and deleting rooms),
    /// on top of the scope check every front end makes.
    pub fn check_operation(&self, user: &str, op: &Operation) -> Result<(), Refusal> {
        let admin_only = matches!(
            op,
            Operation::CreateUser(_)
                | Operation::DeleteUser { .. }
                | Operation::DeleteRoom { .. }
                | Operation::DeleteRecordings { .. }
                | Operation::AuditLog { .. }
                | Operation::Retention { .. }
        );
        if admin_only && !self.is_admin(user) {
            Err(Refusal::AdminOnly)
        } else {
            Ok(())
        }
    }
}

/// A Matrix id pattern: `*` matches any run of characters, everything else itself.
pub fn matches(pattern: &str, id: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == id;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !id.starts_with(first) || id.len() < first.len() + last.len() || !id.ends_with(last) {
        return false;
    }
    let mut rest = &id[first.len()..id.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access {
            allowed: vec!["@*:uni.example".into(), "@guest:other.example".into()],
            admins: vec!["@it-*:uni.example".into()],
            email_rule: Some("{localpart}@uni.example".into()),
            emails: [(
                "@ada:uni.example".to_string(),
                "ada.lovelace@uni.example".parse().unwrap(),
            )]
            .into(),
            min_power_level: 50,
            home_server: "uni.example".into(),
        }
    }

    #[test]
    fn patterns() {
        assert!(matches("@*:uni.example", "@bob:uni.example"));
        assert!(!matches("@*:uni.example", "@bob:uni.example.evil"));
        assert!(!matches("@*:uni.example", "@bob:evil-uni.example"));
        assert!(matches("@it-*:uni.example", "@it-ops:uni.example"));
        assert!(!matches("@it-*:uni.example", "@bob:uni.example"));
        assert!(matches("@a*b*c:x", "@aXbYc:x"));
        assert!(!matches("@ab*ba:x", "@aba:x"), "no overlap of the ends");
        assert!(matches("@exact:x", "@exact:x"));
        assert!(!matches("@exact:x", "@exact:xy"));
    }

    #[test]
    fn who_may_what() {
        let a = access();
        assert_eq!(a.may_command("@bob:uni.example"), Ok(()));
        assert_eq!(a.may_command("@guest:other.example"), Ok(()));
        assert_eq!(
            a.may_command("@mallory:evil.example"),
            Err(Refusal::NotAllowed)
        );
        assert!(a.is_admin("@it-ops:uni.example"));
        assert!(!a.is_admin("@bob:uni.example"));
        assert!(a.actor("@it-ops:uni.example").may(Scope::ServersWrite));
        assert!(!a.actor("@bob:uni.example").may(Scope::ServersWrite));
        assert!(!a.actor("@bob:uni.example").may(Scope::MailsAdmin));
        assert!(a.actor("@bob:uni.example").may(Scope::MeetingsWrite));
        let delete = Operation::DeleteUser {
            server: "bbb".parse().unwrap(),
            email: "x@uni.example".parse().unwrap(),
            rooms: Default::default(),
            with_recordings: false,
        };
        assert_eq!(
            a.check_operation("@bob:uni.example", &delete),
            Err(Refusal::AdminOnly)
        );
        assert_eq!(a.check_operation("@it-ops:uni.example", &delete), Ok(()));
        assert_eq!(
            a.may_in_room(0),
            Err(Refusal::PowerLevel { needed: 50, has: 0 })
        );
        assert_eq!(a.may_in_room(100), Ok(()));
        assert!(Refusal::NotAllowed.to_string().contains("allowed_users"));
    }

    #[test]
    fn emails() {
        let a = access();
        assert_eq!(
            a.email_of("@ada:uni.example").unwrap().as_str(),
            "ada.lovelace@uni.example"
        );
        assert_eq!(
            a.email_of("@bob:uni.example").unwrap().as_str(),
            "bob@uni.example"
        );
        assert_eq!(a.email_of("not-an-id"), None);
        assert_eq!(
            a.email_of("@ada:evil.example"),
            None,
            "the rule maps only the bot's homeserver"
        );
        let ada: Email = "ada.lovelace@uni.example".parse().unwrap();
        assert_eq!(
            a.user_of(&ada, "uni.example").as_deref(),
            Some("@ada:uni.example")
        );
        let bob: Email = "bob@uni.example".parse().unwrap();
        assert_eq!(
            a.user_of(&bob, "uni.example").as_deref(),
            Some("@bob:uni.example")
        );
        let other: Email = "bob@elsewhere.example".parse().unwrap();
        assert_eq!(a.user_of(&other, "uni.example"), None);
    }
}
