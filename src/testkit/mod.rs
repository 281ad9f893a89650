//! Helpers for tests, benchmarks and the demo: a throwaway PostgreSQL, Python venvs and a
//! throwaway Synapse (Matrix homeserver).

pub mod pg;
pub mod python;
pub mod redis;
pub mod smtp;
pub mod synapse;
