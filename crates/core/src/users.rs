//! Users as sessions see them. Until the user recipes (account linking, user-id mapping) store
//! anything, a session's user is exactly the id the caller passed: primary = recipe user.

use crate::core::Core;
use crate::error::CoreResult;
use crate::ids::AppId;

/// (primary user id, recipe user id) for a session of `user_id`, external ids when mapped.
pub async fn session_user_ids(_core: &Core, _app: &AppId, user_id: &str) -> CoreResult<(String, String)> {
    Ok((user_id.to_string(), user_id.to_string()))
}

/// Every user id whose sessions belong to `user_id` (itself, plus linked recipe users when asked).
pub async fn session_lookup_ids(
    _core: &Core,
    _app: &AppId,
    user_id: &str,
    _include_linked: bool,
) -> CoreResult<Vec<String>> {
    Ok(vec![user_id.to_string()])
}

/// Background jobs of the user recipes.
pub fn jobs() -> Vec<std::sync::Arc<dyn crate::jobs::Job>> {
    Vec::new()
}
