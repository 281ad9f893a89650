//! API tokens: made here (shown once, stored as a SHA-256), listed, revoked.

use super::{Service, internal};
use crate::domain::outcome::TokenView;
use crate::domain::{OpError, Outcome, Scope};
use crate::store::StoreError;

impl Service {
    pub(super) async fn create_token(
        &self,
        name: &str,
        scopes: &[Scope],
    ) -> Result<Outcome, OpError> {
        let name = name.trim();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(OpError::Invalid(format!(
                "token name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
            )));
        }
        if scopes.is_empty() {
            let all: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            return Err(OpError::Invalid(format!(
                "give the token at least one scope: {}",
                all.join(", ")
            )));
        }
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let token = crate::api::new_token();
        let hash = crate::api::hash_token(&token);
        match self
            .store
            .create_token(name, &hash, &scopes, self.clock.now())
            .await
        {
            Ok(_) => Ok(Outcome::TokenCreated {
                name: name.to_string(),
                token,
                scopes,
            }),
            Err(StoreError::Conflict { .. }) => Err(OpError::AlreadyExists {
                what: "token".into(),
                id: name.to_string(),
            }),
            Err(e) => Err(internal(e)),
        }
    }

    pub(super) async fn list_tokens(&self) -> Result<Outcome, OpError> {
        let tokens = self
            .store
            .list_tokens()
            .await
            .map_err(internal)?
            .into_iter()
            .map(|t| TokenView {
                name: t.name,
                scopes: t.scopes,
                created_at: t.created_at,
                last_used_at: t.last_used_at,
                revoked: t.revoked,
            })
            .collect();
        Ok(Outcome::Tokens { tokens })
    }

    pub(super) async fn revoke_token(&self, name: &str) -> Result<Outcome, OpError> {
        if self.store.revoke_token(name).await.map_err(internal)? {
            Ok(Outcome::Done {
                message: format!("token {name} revoked"),
            })
        } else {
            Err(OpError::not_found("token", name))
        }
    }
}
