//! What every handler can reach.

use std::sync::Arc;

use crate::accounts::{Accounts, LoginThrottle, SessionPolicy};
use crate::config::Signup;
use crate::models::{LoadedModel, ModelError, ModelRegistry};
use crate::monitoring::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<ModelRegistry>,
    /// Used when a request names no model.
    pub default_model: Option<String>,
    pub accounts: Accounts,
    pub throttle: Arc<LoginThrottle>,
    pub session_policy: SessionPolicy,
    pub signup: Signup,
    /// Whether `/v1` requires an API key.
    pub require_api_key: bool,
    /// `--max-tokens-default`; `None` when 0 (the rest of the context).
    pub max_tokens_default: Option<u32>,
    /// This app's own metrics, for `GET /metrics`.
    pub metrics: Metrics,
}

impl AppState {
    /// The named model, or the default one; loads it if needed.
    pub fn model(&self, id: Option<&str>) -> Result<Arc<LoadedModel>, ModelError> {
        let id = id
            .or(self.default_model.as_deref())
            .ok_or(ModelError::NotFound)?;
        self.registry.get(id)
    }
}
