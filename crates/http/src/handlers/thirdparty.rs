//! Third-party endpoints (§a.7): sign-in-up, the third-party branch of `/recipe/user` (`rid:
//! thirdparty`) and the deprecated look-up by e-mail.

use super::common::app_scope;
use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::input::Body;
use crate::router::{handler, Checks, Router, Scope};
use actix_web::http::Method;
use serde_json::json;
use st_core::cdi::CdiVersion;
use st_core::thirdparty::SignInUpOutcome;

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/signinup", Scope::Tenant, k).post(handler!(sign_in_up));
    r.at("/recipe/users/by-email", Scope::Tenant, k).get(handler!(users_by_email));
    // The reference's third-party `/recipe/user` serves GET only: a PUT with this rid is its
    // "Method not supported", not e-mail-password's update.
    r.at("/recipe/user", Scope::None, k).rid(Method::GET, "thirdparty", handler!(user_get)).rid(
        Method::PUT,
        "thirdparty",
        handler!(method_not_supported),
    );
}

/// `POST /<tenant>/recipe/signinup`: `{thirdPartyId, thirdPartyUserId, email: {id,
/// isVerified}}`. `isVerified` is read (and required) at CDI 2.7 and from 4.0 on; 2.8 to 3.1
/// have no such field.
async fn sign_in_up(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let version = ctx.version();
    let third_party_id = b.stored("thirdPartyId")?;
    let third_party_user_id = b.stored("thirdPartyUserId")?;
    let email = Body::of_object(b.object("email")?);
    let email_id = crate::input::storable("email", email.string("id")?)?;
    let is_verified =
        if version == CdiVersion::V2_7 || version >= CdiVersion::V4_0 { email.bool("isVerified")? } else { false };
    let outcome = ctx
        .state
        .core
        .third_party_sign_in_up(&ctx.tenant, &third_party_id, &third_party_user_id, &email_id, is_verified, version)
        .await?;
    match outcome {
        SignInUpOutcome::Ok { created, user, recipe_user_id } => {
            let mut out = json!({"createdNewUser": created, "user": user.at(version)?});
            if version >= CdiVersion::V4_0 {
                out["recipeUserId"] = json!(recipe_user_id);
            }
            ok(out)
        }
        SignInUpOutcome::EmailChangeNotAllowed => status(
            "EMAIL_CHANGE_NOT_ALLOWED_ERROR",
            json!({"reason": "Email already associated with another primary user."}),
        ),
    }
}

/// `GET /recipe/user` (rid thirdparty): by `userId` app-wide (public tenant only), by
/// `thirdPartyId` + `thirdPartyUserId` in the tenant.
async fn user_get(ctx: &Ctx<'_>) -> HResult {
    let q = &ctx.query;
    let core = &ctx.state.core;
    let (user_id, tp_id, tp_user_id) =
        (q.opt_string("userId"), q.opt_string("thirdPartyId"), q.opt_string("thirdPartyUserId"));
    if user_id.is_some() && (tp_id.is_some() || tp_user_id.is_some()) {
        return Err(ApiError::BadRequest(
            "Please provide only one of userId or (thirdPartyId & thirdPartyUserId)".into(),
        ));
    }
    let user = match (user_id, tp_id, tp_user_id) {
        (Some(id), _, _) => {
            app_scope(ctx).await?;
            match core.third_party_user_by_recipe_id(&ctx.tenant.app, &id).await? {
                Some(user) => user,
                None => return status("UNKNOWN_USER_ID_ERROR", json!({})),
            }
        }
        (None, Some(tp_id), Some(tp_user_id)) => {
            match core.third_party_user_by_provider(&ctx.tenant, &tp_id, &tp_user_id).await? {
                Some(user) => user,
                None => return status("UNKNOWN_THIRD_PARTY_USER_ERROR", json!({})),
            }
        }
        _ => {
            return Err(ApiError::BadRequest(
                "Please provide one of userId or (thirdPartyId & thirdPartyUserId)".into(),
            ))
        }
    };
    ok(json!({"user": user.at(ctx.version())?}))
}

/// Deprecated `GET /<tenant>/recipe/users/by-email`.
async fn users_by_email(ctx: &Ctx<'_>) -> HResult {
    let email = ctx.query.string("email")?;
    let users = ctx.state.core.third_party_users_by_email(&ctx.tenant, &email).await?;
    let version = ctx.version();
    let users = users.into_iter().map(|u| u.at(version)).collect::<Result<Vec<_>, _>>()?;
    ok(json!({"users": users}))
}

async fn method_not_supported(_ctx: &Ctx<'_>) -> HResult {
    Err(ApiError::MethodNotAllowed)
}
