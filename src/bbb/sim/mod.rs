//! The BBB simulator (to be implemented).
