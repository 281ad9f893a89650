//! Greenlight 2.x (last release 2.14.10): users, rooms and shares written straight into its
//! PostgreSQL database (greenlight.md §10, seed-behaviour.md §3 and §6).
//!
//! What a Greenlight 2 admin should find, and the choices made where Greenlight leaves room:
//! * Every statement is parameterised and every operation runs in one transaction, so a failure
//!   leaves nothing half-written. Ids are read as 64-bit (fresh installs use bigserial, migrated
//!   ones serial) and nothing relies on the absence of foreign keys.
//! * Soft delete: rows with `deleted = true` are invisible to every lookup, as Greenlight's
//!   default scope hides them.
//! * Users get what Greenlight's `user:create` task gives them: `gl-` + 12 letters as uid, a
//!   lower-cased e-mail, `$2a$` bcrypt for local accounts (NULL digest for LDAP/OAuth users, who
//!   are matched by `social_uid`), verified and terms accepted, a role of provider `greenlight`,
//!   and a "Home Room" when the role may create rooms (`User#set_role`). Without it Greenlight
//!   sends the user to a nil main room after sign-in.
//! * `users_roles` is the obsolete rolify table: Greenlight 2.14 never writes it (roles live in
//!   `users.role_id`) but drops a user's rows when it destroys the user, so we do the same.
//! * Deleting a user is Greenlight's *permanent* delete (admin "delete permanently", or a user
//!   deleting their own account): the row goes, with its shares to and from others, its
//!   soft-deleted rooms and its `users_roles` rows. A soft delete would keep the e-mail taken in
//!   Greenlight (its uniqueness check sees deleted users) while our lookups no longer see it;
//!   a user that is already soft-deleted is purged the same way.
//! * The home room is part of the user: `RoomDisposition::Refuse` refuses only when the user owns
//!   other rooms, and the home room goes (or is transferred) with the rest.
//! * Greenlight 2 stores no recordings, so `with_recordings` has nothing to remove here; the
//!   returned meeting ids let the caller delete the recordings on BBB.

mod options;
mod rooms;
mod schema;
mod users;

pub use options::KNOWN_OPTIONS;

use super::{
    DeletedRoom, DeletedUser, GlRoom, GlUser, Greenlight, GreenlightError, GreenlightVersion,
    ItemResult, NewRoom, NewUser, RoomDisposition, RoomSearch, SchemaReport,
};
use crate::domain::{Email, RoomRef};
use async_trait::async_trait;
use sqlx::PgPool;
use std::collections::BTreeMap;

/// The auth provider of users we create unless told otherwise (local Greenlight accounts).
pub const DEFAULT_PROVIDER: &str = "greenlight";
/// Roles and site settings of a single-tenant Greenlight 2 carry this provider for every user,
/// whatever their auth provider.
const ROLE_PROVIDER: &str = "greenlight";
/// The role new users get unless told otherwise.
const DEFAULT_ROLE: &str = "user";

/// Greenlight 2.x behind the [`Greenlight`] trait.
#[derive(Debug, Clone)]
pub struct GreenlightV2 {
    pool: PgPool,
    provider: String,
    bcrypt_cost: u32,
}

impl GreenlightV2 {
    /// `provider`: the auth provider of users we create (`greenlight` when `None`; the original
    /// tool used `ldap`). `bcrypt_cost`: Greenlight uses 12.
    pub fn new(pool: PgPool, provider: Option<String>, bcrypt_cost: u32) -> Self {
        let provider = super::common::provider_or(provider, DEFAULT_PROVIDER);
        Self {
            pool,
            provider,
            bcrypt_cost,
        }
    }

    /// The auth provider of the users this instance creates.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn bcrypt_cost(&self) -> u32 {
        self.bcrypt_cost
    }
}

#[async_trait]
impl Greenlight for GreenlightV2 {
    fn version(&self) -> GreenlightVersion {
        GreenlightVersion::V2
    }

    async fn check_schema(&self) -> Result<SchemaReport, GreenlightError> {
        schema::check(self).await
    }

    async fn find_user(&self, email: &Email) -> Result<Option<GlUser>, GreenlightError> {
        users::find(self, email).await
    }

    async fn create_user(&self, user: &NewUser) -> Result<GlUser, GreenlightError> {
        users::create(self, user).await
    }

    async fn delete_user(
        &self,
        email: &Email,
        rooms: &RoomDisposition,
        // Greenlight 2 keeps no recording rows: nothing to remove in its database.
        _with_recordings: bool,
    ) -> Result<DeletedUser, GreenlightError> {
        users::delete(self, email, rooms).await
    }

    async fn create_room(&self, owner: &Email, room: &NewRoom) -> Result<GlRoom, GreenlightError> {
        rooms::create(self, owner, room).await
    }

    async fn find_room(&self, room: &RoomRef) -> Result<Option<GlRoom>, GreenlightError> {
        rooms::find(self, room).await
    }

    async fn home_room(&self, owner: &Email) -> Result<GlRoom, GreenlightError> {
        rooms::home(self, owner).await
    }

    async fn rename_room(
        &self,
        room: &RoomRef,
        new_id: Option<&RoomRef>,
        new_name: Option<&str>,
    ) -> Result<GlRoom, GreenlightError> {
        rooms::rename(self, room, new_id, new_name).await
    }

    async fn set_room_options(
        &self,
        room: &RoomRef,
        options: &BTreeMap<String, String>,
    ) -> Result<GlRoom, GreenlightError> {
        rooms::set_options(self, room, options).await
    }

    async fn delete_room(
        &self,
        room: &RoomRef,
        // See delete_user: no recording rows in Greenlight 2.
        _with_recordings: bool,
    ) -> Result<DeletedRoom, GreenlightError> {
        rooms::delete(self, room).await
    }

    async fn share_room(
        &self,
        room: &RoomRef,
        users: &[Email],
    ) -> Result<Vec<ItemResult>, GreenlightError> {
        rooms::share(self, room, users).await
    }

    async fn unshare_room(
        &self,
        room: &RoomRef,
        users: &[Email],
    ) -> Result<Vec<ItemResult>, GreenlightError> {
        rooms::unshare(self, room, users).await
    }

    async fn search_rooms(&self, by: &RoomSearch) -> Result<Vec<GlRoom>, GreenlightError> {
        rooms::search(self, by).await
    }

    async fn meeting_started(
        &self,
        meeting_id: &str,
        create_time_ms: i64,
    ) -> Result<(), GreenlightError> {
        rooms::meeting_started(self, meeting_id, create_time_ms).await
    }

    async fn meeting_ended(&self, _meeting_id: &str) -> Result<(), GreenlightError> {
        // Greenlight 2 keeps no "online" flag (it asks BBB each time) and its counters move
        // only on start, so there is nothing to record.
        Ok(())
    }
}

/// Input checks shared by users and rooms. Values are stored verbatim; these only refuse
/// what Greenlight itself would refuse or what would break its URLs.
pub(crate) mod checks {
    use crate::greenlight::GreenlightError;

    /// Greenlight 2's models cap user and room names at 256 characters.
    pub const MAX_NAME_CHARS: usize = 256;

    pub fn display_name(what: &str, name: &str) -> Result<(), GreenlightError> {
        if name.trim().is_empty() {
            return Err(GreenlightError::Invalid(format!("the {what} is empty")));
        }
        let n = name.chars().count();
        if n > MAX_NAME_CHARS {
            return Err(GreenlightError::Invalid(format!(
                "the {what} is {n} characters long; Greenlight allows at most {MAX_NAME_CHARS}"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(GreenlightError::Invalid(format!(
                "the {what} contains control characters (line breaks, tabs, …)"
            )));
        }
        Ok(())
    }

    /// `User` validates `name` without `http://` / `https://` (against spam sign-ups).
    pub fn user_name(name: &str) -> Result<(), GreenlightError> {
        display_name("user name", name)?;
        let lower = name.to_lowercase();
        if lower.contains("http://") || lower.contains("https://") {
            return Err(GreenlightError::Invalid(
                "Greenlight refuses user names that contain a link (http:// or https://)".into(),
            ));
        }
        Ok(())
    }

    /// `users.uid` ends up in `/u/<uid>/…` URLs and as the BBB userID.
    pub fn user_uid(uid: &str) -> Result<(), GreenlightError> {
        let ok_len = (1..=64).contains(&uid.chars().count());
        let bad = |c: char| !c.is_ascii_graphic() || "/?#.%\\".contains(c);
        if !ok_len || uid.chars().any(bad) {
            return Err(GreenlightError::Invalid(format!(
                "the user uid '{}' must be 1-64 visible ASCII characters without / ? # . % \\",
                uid.chars().take(80).collect::<String>()
            )));
        }
        Ok(())
    }

    /// Rails routes split path segments at `.`, `/` and `?` (greenlight.md §2).
    pub fn room_uid(uid: &str) -> Result<(), GreenlightError> {
        if let Some(c) = uid.chars().find(|c| matches!(c, '.' | '/' | '?')) {
            return Err(GreenlightError::Invalid(format!(
                "a Greenlight room id cannot contain '{c}' (it breaks the room's URL)"
            )));
        }
        Ok(())
    }

    /// Locale codes such as `en`, `de`, `pt_BR`, `zh-TW`, or Greenlight's `default`.
    pub fn language(lang: &str) -> Result<(), GreenlightError> {
        let ok = (2..=16).contains(&lang.len())
            && lang
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok {
            Ok(())
        } else {
            Err(GreenlightError::Invalid(format!(
                "'{}' is not a language code such as en, de or pt_BR",
                lang.chars().take(40).collect::<String>()
            )))
        }
    }

    /// LDAP DNs and OAuth subjects: anything printable, stored verbatim.
    pub fn external_id(id: &str) -> Result<(), GreenlightError> {
        if id.trim().is_empty() || id.chars().count() > 1024 || id.chars().any(char::is_control) {
            return Err(GreenlightError::Invalid(
                "the external id (social_uid) must be 1-1024 printable characters".into(),
            ));
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn checks() {
            assert!(display_name("room name", &"é".repeat(256)).is_ok());
            assert!(display_name("room name", &"é".repeat(257)).is_err());
            assert!(display_name("room name", "  ").is_err());
            assert!(display_name("room name", "a\nb").is_err());
            assert!(user_name("Zoë O'Brien \"; DROP TABLE users; --").is_ok());
            assert!(user_name("see HTTPS://spam.example").is_err());
            assert!(user_uid("gl-abcdefghijkl").is_ok());
            assert!(user_uid("a/b").is_err());
            assert!(user_uid("a b").is_err());
            assert!(room_uid("abc-def").is_ok());
            assert!(room_uid("abc.def").is_err());
            assert!(language("pt_BR").is_ok());
            assert!(language("x").is_err());
            assert!(external_id("uid=a,ou=people,dc=uni").is_ok());
            assert!(external_id("").is_err());
        }
    }
}
