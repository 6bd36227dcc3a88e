//! The intents the storage traits give defaults for, composed from the per-recipe ones, as
//! free functions: the traits' default methods call them, and a backend that overrides a
//! default (to instrument it, or to answer in fewer round trips) can still reuse them.

use super::*;
use crate::ids::{AppId, TenantIdentifier};
use serde_json::{Map, Value};

pub async fn get_auth_users<S: AuthRecipeStorage + ?Sized>(
    st: &S,
    app: &AppId,
    user_ids: &[String],
) -> SResult<Vec<AuthUser>> {
    let mut users: Vec<AuthUser> = Vec::with_capacity(user_ids.len());
    for id in user_ids {
        if let Some(user) = st.get_auth_user(app, id).await? {
            if !users.iter().any(|u| u.id == user.id) {
                users.push(user);
            }
        }
    }
    Ok(users)
}

pub async fn user_decorations<S: AuthRecipeStorage + ?Sized>(
    st: &S,
    app: &AppId,
    users: &[AuthUser],
) -> SResult<UserDecorations> {
    let mut out = UserDecorations::default();
    for u in users.iter().filter(|u| !u.login_methods.iter().any(|m| m.recipe_user_id == u.id)) {
        if let Some(mapping) = st.get_user_id_mapping(app, &u.id, UserIdType::SuperTokens).await? {
            out.external_ids.insert(u.id.clone(), mapping.external_user_id);
        }
    }
    for m in users.iter().flat_map(|u| u.login_methods.iter()) {
        let shown = match st.get_user_id_mapping(app, &m.recipe_user_id, UserIdType::SuperTokens).await? {
            Some(mapping) => {
                out.external_ids.insert(m.recipe_user_id.clone(), mapping.external_user_id.clone());
                mapping.external_user_id
            }
            None => m.recipe_user_id.clone(),
        };
        if let Some(email) = &m.email {
            if st.is_email_verified(app, &shown, email).await? {
                out.verified.insert((shown, email.clone()));
            }
        }
    }
    Ok(out)
}

pub async fn session_identity<S: AuthRecipeStorage + ?Sized>(
    st: &S,
    app: &AppId,
    user_id: &str,
) -> SResult<Option<SessionIdentity>> {
    let recipe = match st.get_user_id_mapping(app, user_id, UserIdType::External).await? {
        Some(m) => m.supertokens_user_id,
        None => user_id.to_string(),
    };
    let Some(user) = st.get_auth_user(app, &recipe).await? else { return Ok(None) };
    let external = |id: String| async move {
        st.get_user_id_mapping(app, &id, UserIdType::SuperTokens).await.map(|m| m.map(|m| m.external_user_id))
    };
    Ok(Some(SessionIdentity {
        recipe_external_id: external(recipe.clone()).await?,
        primary_external_id: external(user.id.clone()).await?,
        recipe_user_id: recipe,
        primary_user_id: user.id,
    }))
}

pub async fn get_user_metadata_many<S: UserMetadataStorage + ?Sized>(
    st: &S,
    app: &AppId,
    user_ids: &[String],
) -> SResult<std::collections::HashMap<String, Map<String, Value>>> {
    let mut out = std::collections::HashMap::new();
    for id in user_ids {
        if let Some(m) = st.get_user_metadata(app, id).await? {
            out.insert(id.clone(), m);
        }
    }
    Ok(out)
}

pub async fn create_session_resolved<S: Storage + ?Sized>(
    st: &S,
    row: &SessionRow,
    record_activity: bool,
) -> SResult<Option<SessionIdentity>> {
    let identity = st.session_identity(&row.tenant.app, &row.user_id).await?;
    match identity.as_ref().and_then(|i| i.recipe_external_id.as_ref()) {
        Some(external) if *external != row.user_id => {
            st.create_session(&SessionRow { user_id: external.clone(), ..row.clone() }).await?
        }
        _ => st.create_session(row).await?,
    }
    if record_activity {
        let active = SessionIdentity::active_user(identity.as_ref(), &row.user_id);
        st.touch_user_last_active(&row.tenant.app, &active, row.created_at).await?;
    }
    Ok(identity)
}

pub async fn update_session_resolved<S: Storage + ?Sized>(
    st: &S,
    tenant: &TenantIdentifier,
    handle: &str,
    decide: SessionDecider<'_>,
    _touch: Option<&TouchIfCurrent<'_>>,
) -> SResult<Option<ResolvedSession>> {
    let Some(row) = st.update_session_atomically(tenant, handle, decide).await? else { return Ok(None) };
    let identity = st.session_identity(&tenant.app, &row.user_id).await?;
    Ok(Some(ResolvedSession { row, identity, activity_recorded: false }))
}
