//! Greenlight 3.x (checked against release 3.8.2.4): users, rooms, option rows and shares
//! written straight into Greenlight's PostgreSQL database, row for row as Greenlight's own
//! models write them (greenlight.md §1–§7, §12).
//!
//! Every operation runs in one transaction: it either writes all its rows or none. Tenancy:
//! every lookup is scoped to the configured provider (`users.provider`, greenlight.md §9);
//! rooms inherit it from their owner.

mod options;
mod recordings;
mod rooms;
mod schema;
mod users;
mod validate;

use super::common::{self, db_error};
use super::{
    DeletedRoom, DeletedUser, GlRecording, GlRoom, GlUser, Greenlight, GreenlightError,
    GreenlightSettings, GreenlightVersion, ItemResult, NewRoom, NewUser, RoomDisposition,
    RoomSearch, SchemaReport,
};
use crate::domain::{Email, RoomRef};
use async_trait::async_trait;
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::BTreeMap;

/// The tenant of a single-tenant install.
pub const DEFAULT_PROVIDER: &str = "greenlight";
/// Latest `schema_migrations` version of the release this module was checked against.
pub const KNOWN_SCHEMA_VERSION: &str = "20260402000000";

/// One Greenlight 3.x database.
#[derive(Debug, Clone)]
pub struct GreenlightV3 {
    pool: PgPool,
    provider: String,
    bcrypt_cost: u32,
}

impl GreenlightV3 {
    /// `provider`: the tenant (`users.provider`); `None` or blank means `greenlight`.
    /// `bcrypt_cost`: cost of the digests we write (Greenlight uses 12).
    pub fn new(pool: PgPool, provider: Option<String>, bcrypt_cost: u32) -> Self {
        let provider = super::common::provider_or(provider, DEFAULT_PROVIDER);
        Self {
            pool,
            provider,
            bcrypt_cost,
        }
    }

    /// Connect with the settings of one Greenlight (provider and cost defaults applied).
    pub async fn connect(settings: &GreenlightSettings) -> Result<Self, GreenlightError> {
        let pool = common::connect(&settings.database_url).await?;
        Ok(Self::new(
            pool,
            settings.provider.clone(),
            settings.bcrypt_cost.unwrap_or(common::DEFAULT_BCRYPT_COST),
        ))
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, GreenlightError> {
        self.pool.begin().await.map_err(db_error)
    }
}

#[async_trait]
impl Greenlight for GreenlightV3 {
    fn version(&self) -> GreenlightVersion {
        GreenlightVersion::V3
    }

    async fn check_schema(&self) -> Result<SchemaReport, GreenlightError> {
        schema::check(&self.pool, &self.provider).await
    }

    async fn find_user(&self, email: &Email) -> Result<Option<GlUser>, GreenlightError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        users::find(&mut conn, &self.provider, email).await
    }

    async fn create_user(&self, user: &NewUser) -> Result<GlUser, GreenlightError> {
        // Validate and hash before the transaction: hashing takes a while at cost 12.
        let checked = users::check_new(user)?;
        let digest = users::digest(user, self.bcrypt_cost).await?;
        let mut tx = self.begin().await?;
        let created = users::create(&mut tx, &self.provider, &checked, digest).await?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(email = %user.email, provider = %self.provider, role = ?created.role, "created Greenlight user");
        Ok(created)
    }

    async fn delete_user(
        &self,
        email: &Email,
        rooms: &RoomDisposition,
        with_recordings: bool,
    ) -> Result<DeletedUser, GreenlightError> {
        let mut tx = self.begin().await?;
        let deleted = users::delete(&mut tx, &self.provider, email, rooms, with_recordings).await?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(
            email = %email,
            deleted_rooms = deleted.deleted_rooms.len(),
            transferred_rooms = deleted.transferred_rooms.len(),
            "deleted Greenlight user"
        );
        Ok(deleted)
    }

    async fn create_room(&self, owner: &Email, room: &NewRoom) -> Result<GlRoom, GreenlightError> {
        let mut tx = self.begin().await?;
        let owner = users::lock_owner(&mut tx, &self.provider, owner).await?;
        let id = rooms::create(&mut tx, &owner, room).await?;
        let created = rooms::load_one(&mut tx, &id).await?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(room = %created.friendly_id, owner = %created.owner_email, "created Greenlight room");
        Ok(created)
    }

    async fn find_room(&self, room: &RoomRef) -> Result<Option<GlRoom>, GreenlightError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        match rooms::find_id(&mut conn, &self.provider, room).await? {
            Some(id) => Ok(Some(rooms::load_one(&mut conn, &id).await?)),
            None => Ok(None),
        }
    }

    async fn home_room(&self, owner: &Email) -> Result<GlRoom, GreenlightError> {
        let mut tx = self.begin().await?;
        let owner = users::lock_owner(&mut tx, &self.provider, owner).await?;
        let id = rooms::home(&mut tx, &owner).await?;
        let room = rooms::load_one(&mut tx, &id).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(room)
    }

    async fn rename_room(
        &self,
        room: &RoomRef,
        new_id: Option<&RoomRef>,
        new_name: Option<&str>,
    ) -> Result<GlRoom, GreenlightError> {
        let mut tx = self.begin().await?;
        let locked = rooms::lock(&mut tx, &self.provider, room).await?;
        rooms::rename(&mut tx, &locked, new_id, new_name).await?;
        let renamed = rooms::load_one(&mut tx, &locked.id).await?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(room = %locked.friendly_id, now = %renamed.friendly_id, "renamed Greenlight room");
        Ok(renamed)
    }

    async fn set_room_options(
        &self,
        room: &RoomRef,
        options: &BTreeMap<String, String>,
    ) -> Result<GlRoom, GreenlightError> {
        let mut tx = self.begin().await?;
        let locked = rooms::lock(&mut tx, &self.provider, room).await?;
        rooms::set_options(&mut tx, &locked, options).await?;
        let updated = rooms::load_one(&mut tx, &locked.id).await?;
        tx.commit().await.map_err(db_error)?;
        // Names only: access codes are in the values.
        tracing::info!(room = %locked.friendly_id, options = ?options.keys().collect::<Vec<_>>(), "set Greenlight room options");
        Ok(updated)
    }

    async fn delete_room(
        &self,
        room: &RoomRef,
        with_recordings: bool,
    ) -> Result<DeletedRoom, GreenlightError> {
        let mut tx = self.begin().await?;
        let locked = rooms::lock(&mut tx, &self.provider, room).await?;
        let deleted = rooms::delete(&mut tx, &locked, with_recordings).await?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(room = %deleted.friendly_id, recordings = deleted.recordings_removed, "deleted Greenlight room");
        Ok(deleted)
    }

    async fn share_room(
        &self,
        room: &RoomRef,
        users: &[Email],
    ) -> Result<Vec<ItemResult>, GreenlightError> {
        let mut tx = self.begin().await?;
        let locked = rooms::lock(&mut tx, &self.provider, room).await?;
        let results = rooms::share(&mut tx, &self.provider, &locked, users).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(results)
    }

    async fn unshare_room(
        &self,
        room: &RoomRef,
        users: &[Email],
    ) -> Result<Vec<ItemResult>, GreenlightError> {
        let mut tx = self.begin().await?;
        let locked = rooms::lock(&mut tx, &self.provider, room).await?;
        let results = rooms::unshare(&mut tx, &self.provider, &locked, users).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(results)
    }

    async fn search_rooms(&self, by: &RoomSearch) -> Result<Vec<GlRoom>, GreenlightError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let ids = rooms::search_ids(&mut conn, &self.provider, by).await?;
        rooms::load(&mut conn, &ids).await
    }

    async fn meeting_started(
        &self,
        meeting_id: &str,
        create_time_ms: i64,
    ) -> Result<(), GreenlightError> {
        let mut tx = self.begin().await?;
        rooms::meeting_started(&mut tx, &self.provider, meeting_id, create_time_ms).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn meeting_ended(&self, meeting_id: &str) -> Result<(), GreenlightError> {
        let mut tx = self.begin().await?;
        rooms::meeting_ended(&mut tx, &self.provider, meeting_id).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn sync_recordings(&self, list: &[GlRecording]) -> Result<u64, GreenlightError> {
        let mut tx = self.begin().await?;
        let n = recordings::upsert(&mut tx, &self.provider, list).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(n)
    }

    async fn forget_recordings(&self, record_ids: &[String]) -> Result<u64, GreenlightError> {
        let mut tx = self.begin().await?;
        let n = recordings::forget(&mut tx, &self.provider, record_ids).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(n)
    }
}

/// True for a unique-index violation (the caller decides which one from context).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
