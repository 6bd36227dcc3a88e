//! Sign-in lockout endpoints (our additions, issue 25; docs/COMPATIBILITY.md): see a
//! (tenant, e-mail)'s failure count and lock, and reset them. API-key protected as every
//! CDI route; served whatever `signin_lockout_max_failures` says (with the lockout off there is
//! simply nothing counted).

use crate::ctx::{ok, Ctx, HResult};
use crate::router::{handler, Checks, Router, Scope};
use serde_json::json;

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/emailpassword/lockout", Scope::Tenant, k).get(handler!(status));
    r.at("/recipe/emailpassword/lockout/reset", Scope::Tenant, k).post(handler!(reset));
}

/// `GET /<tenant>/recipe/emailpassword/lockout?email=`.
async fn status(ctx: &Ctx<'_>) -> HResult {
    let email = ctx.query.string("email")?;
    let s = ctx.state.core.signin_lockout_status(&ctx.tenant, &email).await?;
    ok(json!({
        "failedAttempts": s.failed_attempts,
        "locked": s.locked_until_ms.is_some(),
        "lockedUntil": s.locked_until_ms,
    }))
}

/// `POST /<tenant>/recipe/emailpassword/lockout/reset` with `{"email": …}`.
async fn reset(ctx: &Ctx<'_>) -> HResult {
    let email = ctx.body.string("email")?;
    let did_exist = ctx.state.core.reset_signin_lockout(&ctx.tenant, &email).await?;
    ok(json!({"didExist": did_exist}))
}
