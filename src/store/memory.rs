//! In-memory store for unit tests (to be implemented).

pub struct MemoryStore;
