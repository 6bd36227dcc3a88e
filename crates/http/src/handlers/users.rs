//! User recipes' endpoints (email-password, email verification, users, metadata, roles, ...).

use super::{Ctx, HResult};
use crate::router::Router;

/// User-recipe handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum U {}

pub fn register(_r: &mut Router) {}

pub async fn dispatch(u: U, _ctx: &Ctx<'_>) -> HResult {
    match u {}
}
