//! Input and scope helpers several recipe modules share (recipe modules never import each
//! other).

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::input::Query;
use st_core::cdi::CdiVersion;
use st_core::ids::java_trim;

/// Whether an app-wide API refuses a non-public tenant in its path: from CDI 5.0 on; before,
/// the reference ignores the segment (`WebserverAPI.enforcePublicTenant…`).
pub fn app_apis_public_only(version: Option<CdiVersion>) -> bool {
    version.is_none_or(|v| v >= CdiVersion::V5_0)
}

/// A non-public path tenant used for an app-wide operation ⇒ 403 (from CDI 5.0 on).
pub fn require_public(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.tenant.tenant.is_public() || !app_apis_public_only(ctx.cdi) {
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
