//! SQLite and PostgreSQL store (to be implemented).

pub struct SqlStore;
