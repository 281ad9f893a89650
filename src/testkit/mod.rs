//! Helpers for tests, benchmarks and the demo: throwaway PostgreSQL (to be implemented).

pub mod pg;
