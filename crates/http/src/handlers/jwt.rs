//! JWT endpoints (§a.4): signing a JWT with the app's keys, and the keys (the public
//! `/.well-known/jwks.json` is `infra`'s).

use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::json;
use st_core::cdi::CdiVersion;

pub fn routes(r: &mut Router) {
    r.at("/recipe/jwt", Scope::App, Checks::KEY_AND_VERSION).post(handler!(create));
    r.at("/recipe/jwt/jwks", Scope::App, Checks::KEY_AND_VERSION).get(handler!(jwks));
}

async fn create(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    // Fields are read in the reference's order, so the first bad one is the one it names.
    let algorithm = b.string("algorithm")?;
    let domain = b.string("jwksDomain")?;
    let payload = b.object("payload")?;
    let validity = b.i64("validity")?;
    if validity <= 0 {
        return Err(ApiError::BadRequest("validity must be greater than or equal to 0".into()));
    }
    // Before 2.21 the field did not exist and the static key always signed.
    let use_static =
        if ctx.version() >= CdiVersion::V2_21 { b.opt_bool("useStaticSigningKey")?.unwrap_or(true) } else { true };
    // The reference signs RS256 only (any case). Ours signs with the app's
    // `access_token_signing_algorithm`, and refuses any other (so RS256 alone by default).
    let configured = ctx.state.core.jwt_signing_algorithm(&ctx.tenant.app).await?;
    if !algorithm.eq_ignore_ascii_case(configured.name()) {
        return status("UNSUPPORTED_ALGORITHM_ERROR", json!({}));
    }
    let jwt = ctx.state.core.create_jwt(&ctx.tenant.app, payload, &domain, validity, use_static).await?;
    ok(json!({ "jwt": jwt }))
}

async fn jwks(ctx: &Ctx<'_>) -> HResult {
    let (keys, _) = ctx.state.core.jwks(&ctx.tenant.app).await?;
    ok(json!({ "keys": keys }))
}
