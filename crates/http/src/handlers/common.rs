//! Input and scope helpers several recipe modules share (recipe modules never import each
//! other).

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::input::Query;
use st_core::ids::java_trim;

/// A non-public path tenant used for an app-wide operation ⇒ 403.
pub fn require_public(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.tenant.tenant.is_public() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Only public tenantId can call this app specific API".into()))
    }
}

/// An app-wide operation decided inside the handler: public tenant only, and the app exists.
pub async fn app_scope(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    require_public(ctx)?;
    ctx.state.core.app(&ctx.tenant.app).await?;
    Ok(())
}

/// A required query parameter, trimmed; empty after trimming is the reference's 400.
pub fn query_trimmed(q: &Query, field: &str) -> Result<String, ApiError> {
    crate::input::non_empty(field, java_trim(&q.string(field)?))
}
