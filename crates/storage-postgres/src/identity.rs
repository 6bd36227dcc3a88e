//! The session identity of a user id (its recipe user, that user's primary and their external
//! ids) as an SQL fragment and its row reader, shared by `users.rs`
//! ([`st_core::storage::AuthRecipeStorage::session_identity`]) and the session statements,
//! which resolve it in the same statement as the session row.

use crate::query::col;
use crate::TableNames;
use st_core::storage::{SResult, SessionIdentity};
use tokio_postgres::Row;

/// The session identity of the user id `uid` (an SQL expression; may be an external id) as
/// columns `r` (recipe user), `p` (its primary), `re`/`pe` (their external ids); no row when it
/// names no user. `$1` is the app. The resolved id is compared as `bpchar`, the type of the
/// `CHAR(36)` key, so that the lookup uses the primary key (a `TEXT` comparison would cast the
/// column and scan every user of the app).
pub(crate) fn identity_select(t: &TableNames, uid: &str) -> String {
    identity_select_in(t, "$1", uid)
}

/// [`identity_select`] with the app id given as the SQL expression `app`.
pub(crate) fn identity_select_in(t: &TableNames, app: &str, uid: &str) -> String {
    let map = t.qualified("userid_mapping");
    let a2u = t.qualified("app_id_to_user_id");
    format!(
        "SELECT a.user_id::TEXT AS r, a.primary_or_recipe_user_id::TEXT AS p, \
           (SELECT m.external_user_id FROM {map} m WHERE m.app_id = {app} AND m.supertokens_user_id = a.user_id) AS re, \
           CASE WHEN a.primary_or_recipe_user_id <> a.user_id THEN (SELECT m.external_user_id FROM {map} m \
             WHERE m.app_id = {app} AND m.supertokens_user_id = a.primary_or_recipe_user_id) END AS pe \
         FROM {a2u} a WHERE a.app_id = {app} AND a.user_id = COALESCE((SELECT m.supertokens_user_id::TEXT FROM {map} m \
           WHERE m.app_id = {app} AND m.external_user_id = {uid}), {uid})::BPCHAR"
    )
}

/// A [`SessionIdentity`] from four columns starting at `first` (see [`identity_select`]);
/// `None` when they are NULL (no such user). The statement leaves `pe` NULL for a user that is
/// its own primary (saving a lookup): its external id is then `re`.
pub(crate) fn identity_from_row(row: &Row, first: usize) -> SResult<Option<SessionIdentity>> {
    let recipe: Option<String> = col(row, first)?;
    let primary: Option<String> = col(row, first + 1)?;
    Ok(match (recipe, primary) {
        (Some(recipe_user_id), Some(primary_user_id)) => {
            let recipe_external_id: Option<String> = col(row, first + 2)?;
            let primary_external_id =
                if primary_user_id == recipe_user_id { recipe_external_id.clone() } else { col(row, first + 3)? };
            Some(SessionIdentity { recipe_user_id, primary_user_id, recipe_external_id, primary_external_id })
        }
        _ => None,
    })
}
