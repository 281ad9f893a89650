//! Bearer tokens: `sl_` and 43 URL-safe characters (256 random bits). Only the SHA-256 of a
//! token is stored; the token itself is shown once, when it is made.

use super::ApiState;
use super::error::ApiError;
use crate::domain::Actor;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use sha2::{Digest, Sha256};

pub const TOKEN_PREFIX: &str = "sl_";

/// A fresh random token.
pub fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What the store keeps of a token: its SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The caller, authenticated by `Authorization: Bearer <token>`.
pub struct Authed(pub Actor);

impl FromRequestParts<ApiState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "send a token: Authorization: Bearer <token> (schedulight tokens create)",
                )
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be: Bearer <token>")
            })?;
        let service = &state.service;
        let found = service
            .store()
            .use_token(&hash_token(token), service.now())
            .await
            .map_err(|e| ApiError::from(crate::service::internal_error(e)))?;
        match found {
            Some(t) if !t.revoked => Ok(Authed(Actor::with_scopes(
                format!("api:{}", t.name),
                t.scopes,
            ))),
            _ => Err(ApiError::unauthorized(
                "unknown or revoked token (schedulight tokens list)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), 3 + 43);
        let h = hash_token(&a);
        assert_eq!(h.len(), 64);
        assert_eq!(h, hash_token(&format!(" {a}\n")));
        assert!(!h.contains(&a[3..]));
    }
}
