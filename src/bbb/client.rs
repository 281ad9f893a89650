//! HTTP client for one BBB server (to be implemented).

/// Client for one BBB server.
pub struct BbbClient;

/// Builds `BbbClient`s sharing one connection pool.
pub struct HttpConnector;
