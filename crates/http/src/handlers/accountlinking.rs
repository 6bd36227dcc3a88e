//! Account-linking endpoints (§a.15, rid `accountlinking`): the primary-user check and
//! creation, the link check and link, and unlink. App-wide (a non-public tenant is a 403 from
//! CDI 5.0, ignored before), served at every version as the reference does (its classes read
//! the version only to show `webauthn` in the user from 5.3); no 402, every feature is on.

use crate::ctx::{ok, status, Ctx, HResult};
use crate::router::{handler, Checks, Router, Scope};
use serde_json::json;
use st_core::accountlinking::{LinkOutcome, PrimaryOutcome};

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/accountlinking/user/primary/check", Scope::App, k).get(handler!(can_create_primary));
    r.at("/recipe/accountlinking/user/primary", Scope::App, k).post(handler!(create_primary));
    r.at("/recipe/accountlinking/user/link/check", Scope::App, k).get(handler!(can_link));
    r.at("/recipe/accountlinking/user/link", Scope::App, k).post(handler!(link));
    r.at("/recipe/accountlinking/user/unlink", Scope::App, k).post(handler!(unlink));
}

fn primary_reply(ctx: &Ctx<'_>, outcome: PrimaryOutcome) -> HResult {
    match outcome {
        PrimaryOutcome::Ok { was_already_primary, user } => {
            let mut out = json!({"wasAlreadyAPrimaryUser": was_already_primary});
            if let Some(user) = user {
                out["user"] = json!(user.linked_at(ctx.version()));
            }
            ok(out)
        }
        PrimaryOutcome::LinkedToAnother { primary_user_id, description } => status(
            "RECIPE_USER_ID_ALREADY_LINKED_WITH_PRIMARY_USER_ID_ERROR",
            json!({"primaryUserId": primary_user_id, "description": description}),
        ),
        PrimaryOutcome::Conflict { primary_user_id, description } => status(
            "ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR",
            json!({"primaryUserId": primary_user_id, "description": description}),
        ),
    }
}

fn link_reply(ctx: &Ctx<'_>, outcome: LinkOutcome) -> HResult {
    match outcome {
        LinkOutcome::Ok { already_linked, user } => {
            let mut out = json!({"accountsAlreadyLinked": already_linked});
            if let Some(user) = user {
                out["user"] = json!(user.linked_at(ctx.version()));
            }
            ok(out)
        }
        LinkOutcome::NotPrimary => status("INPUT_USER_IS_NOT_A_PRIMARY_USER", json!({})),
        LinkOutcome::LinkedToAnother { primary_user_id, description, user } => {
            let mut out = json!({"primaryUserId": primary_user_id, "description": description});
            if let Some(user) = user {
                out["user"] = json!(user.linked_at(ctx.version()));
            }
            status("RECIPE_USER_ID_ALREADY_LINKED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR", out)
        }
        LinkOutcome::Conflict { primary_user_id, description } => status(
            "ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR",
            json!({"primaryUserId": primary_user_id, "description": description}),
        ),
    }
}

async fn can_create_primary(ctx: &Ctx<'_>) -> HResult {
    let recipe_user_id = ctx.query.string("recipeUserId")?;
    let outcome = ctx.state.core.can_create_primary_user(&ctx.tenant.app, &recipe_user_id).await?;
    primary_reply(ctx, outcome)
}

async fn create_primary(ctx: &Ctx<'_>) -> HResult {
    let recipe_user_id = ctx.body.string("recipeUserId")?;
    let outcome = ctx.state.core.create_primary_user(&ctx.tenant.app, &recipe_user_id).await?;
    primary_reply(ctx, outcome)
}

async fn can_link(ctx: &Ctx<'_>) -> HResult {
    let recipe_user_id = ctx.query.string("recipeUserId")?;
    let primary_user_id = ctx.query.string("primaryUserId")?;
    let outcome = ctx.state.core.can_link_accounts(&ctx.tenant.app, &recipe_user_id, &primary_user_id).await?;
    link_reply(ctx, outcome)
}

async fn link(ctx: &Ctx<'_>) -> HResult {
    let recipe_user_id = ctx.body.string("recipeUserId")?;
    let primary_user_id = ctx.body.string("primaryUserId")?;
    let outcome = ctx.state.core.link_accounts(&ctx.tenant.app, &recipe_user_id, &primary_user_id).await?;
    link_reply(ctx, outcome)
}

async fn unlink(ctx: &Ctx<'_>) -> HResult {
    let recipe_user_id = ctx.body.string("recipeUserId")?;
    let outcome = ctx.state.core.unlink_account(&ctx.tenant.app, &recipe_user_id).await?;
    ok(json!({"wasRecipeUserDeleted": outcome.was_recipe_user_deleted, "wasLinked": outcome.was_linked}))
}
