//! Helpers for tests, benchmarks and the demo: a throwaway PostgreSQL and a Python venv.

pub mod pg;
pub mod python;
