//! The REST API (`/api/v1`), hosted by `schedulight run` on `api.listen` beside the BBB
//! callbacks. The original's endpoints keep their paths and body shapes (`{"message", "data"}`),
//! plus what it lacked: command results, mails, health. Every route but `/health`, `/ready` and
//! the callbacks (which carry their own signatures) needs a bearer token; tokens are stored
//! hashed, each with scopes (`read`, `servers:write`, …). Every request becomes an `Operation`
//! through `Service::execute`, like every other front end; secrets are never returned.

mod auth;
mod error;
mod greenlight;
mod routes;

pub use auth::{TOKEN_PREFIX, hash_token, new_token};
pub use error::ApiError;
pub use routes::{openapi, router};

use crate::service::Service;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub service: Service,
    /// `/metrics` without a token (`api.metrics_public`).
    pub metrics_public: bool,
}
