//! BBB response XML (to be implemented).
