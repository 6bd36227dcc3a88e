//! WebAuthn endpoints (§a.17, rid `webauthn`): options for registration and sign-in, sign-up,
//! sign-in, credentials, account recovery and the e-mail update. Every route is tenant-scoped
//! and served at every CDI version; the user objects are the account-linking shape at every
//! version (`webauthn` from 5.3), and from 5.5 a sign-in uses up its options.

use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Map, Value};
use st_core::storage::WebauthnOptions;
use st_core::webauthn::{
    CeremonyFailure, CredentialInfo, OptionsOutcome, RegisterCredentialOutcome, RegisterOptionsInput,
    SignInOptionsInput, SignInOutcome, SignUpOutcome, UpdateEmailOutcome,
};

pub fn routes(r: &mut Router) {
    let (t, k) = (Scope::Tenant, Checks::KEY_AND_VERSION);
    r.at("/recipe/webauthn/options/register", t, k).post(handler!(register_options));
    r.at("/recipe/webauthn/options/signin", t, k).post(handler!(sign_in_options));
    r.at("/recipe/webauthn/options", t, k).get(handler!(get_options));
    r.at("/recipe/webauthn/options/remove", t, k).delete(handler!(remove_options));
    r.at("/recipe/webauthn/signup", t, k).post(handler!(sign_up));
    r.at("/recipe/webauthn/signin", t, k).post(handler!(sign_in));
    r.at("/recipe/webauthn/user/credential/register", t, k).post(handler!(register_credential));
    r.at("/recipe/webauthn/user/credential", t, k).get(handler!(get_credential));
    r.at("/recipe/webauthn/user/credential/list", t, k).get(handler!(list_credentials));
    r.at("/recipe/webauthn/user/credential/remove", t, k).delete(handler!(remove_credential));
    r.at("/recipe/webauthn/user/recover/token", t, k).post(handler!(recovery_token));
    r.at("/recipe/webauthn/user/recover/token/consume", t, k).post(handler!(consume_recovery_token));
    r.at("/recipe/webauthn/user/recover", t, k).get(handler!(recovered_user));
    r.at("/recipe/webauthn/user/email", t, k).put(handler!(update_email));
}

/// `INVALID_OPTIONS_ERROR` with its reason.
fn invalid_options(reason: String) -> HResult {
    status("INVALID_OPTIONS_ERROR", json!({"reason": reason}))
}

/// The answer to a refused ceremony response.
fn failure(f: CeremonyFailure) -> HResult {
    match f {
        CeremonyFailure::OptionsNotFound => status("OPTIONS_NOT_FOUND_ERROR", json!({})),
        CeremonyFailure::InvalidOptions(reason) => invalid_options(reason),
        CeremonyFailure::InvalidCredentials(reason) => status("INVALID_CREDENTIALS_ERROR", json!({"reason": reason})),
        CeremonyFailure::InvalidAuthenticator(reason) => {
            status("INVALID_AUTHENTICATOR_ERROR", json!({"reason": reason}))
        }
    }
}

/// `{...fields, "status": "OK"}`: the reference adds the status last on these routes.
fn ok_last(mut fields: Map<String, Value>) -> HResult {
    fields.insert("status".into(), json!("OK"));
    Ok(crate::ctx::Reply::Json(Value::Object(fields)))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `supportedAlgorithmIDs`: absent, or an array (anything else, `null` included, is a 400).
fn algorithms(ctx: &Ctx<'_>) -> Result<Option<Vec<Value>>, ApiError> {
    match ctx.body.raw("supportedAlgorithmIDs")? {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(_) => Err(ApiError::BadRequest("Field name 'supportedAlgorithmIDs' is invalid in JSON input".into())),
    }
}

/// `POST /<tenant>/recipe/webauthn/options/register`.
async fn register_options(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let input = RegisterOptionsInput {
        email: b.stored("email")?,
        display_name: b.opt_string("displayName")?,
        rp_name: b.stored("relyingPartyName")?,
        rp_id: b.stored("relyingPartyId")?,
        origin: b.stored("origin")?,
        timeout: b.opt_i64("timeout")?,
        attestation: b.opt_string("attestation")?,
        resident_key: b.opt_string("residentKey")?,
        user_verification: b.opt_string("userVerification")?,
        user_presence: b.opt_bool("userPresence")?,
        algorithms: algorithms(ctx)?,
    };
    let o = match ctx.state.core.webauthn_register_options(&ctx.tenant, input).await? {
        OptionsOutcome::Ok(o) => o,
        OptionsOutcome::Invalid(reason) => return invalid_options(reason),
    };
    let params: Vec<Value> = o.algorithms.iter().map(|alg| json!({"alg": alg, "type": "public-key"})).collect();
    ok_last(object(json!({
        "webauthnGeneratedOptionsId": o.id,
        "rp": {"id": o.rp_id, "name": o.rp_name},
        "user": {"id": o.user_id, "name": o.email, "displayName": o.display_name},
        "email": o.email,
        "timeout": o.timeout,
        "challenge": o.challenge,
        "attestation": o.attestation,
        "createdAt": o.created_at,
        "expiresAt": o.expires_at,
        "pubKeyCredParams": params,
        "excludeCredentials": [],
        "authenticatorSelection": {
            "requireResidentKey": o.resident_key == "required",
            "residentKey": o.resident_key,
            "userVerification": o.user_verification,
        },
    })))
}

/// `POST /<tenant>/recipe/webauthn/options/signin`.
async fn sign_in_options(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let input = SignInOptionsInput {
        rp_id: b.stored("relyingPartyId")?,
        rp_name: b.stored("relyingPartyName")?,
        origin: b.stored("origin")?,
        timeout: b.opt_i64("timeout")?,
        user_verification: b.opt_string("userVerification")?,
        user_presence: b.opt_bool("userPresence")?,
    };
    match ctx.state.core.webauthn_sign_in_options(&ctx.tenant, input).await? {
        OptionsOutcome::Ok(o) => ok_last(object(json!({
            "webauthnGeneratedOptionsId": o.id,
            "relyingPartyId": o.rp_id,
            "challenge": o.challenge,
            "timeout": o.timeout,
            "userVerification": o.user_verification,
            "userPresence": o.user_presence,
            "createdAt": o.created_at,
            "expiresAt": o.expires_at,
        }))),
        OptionsOutcome::Invalid(reason) => invalid_options(reason),
    }
}

/// The reference's `mapOptionsResponse` (after `status`). `email` is `null` for sign-in options:
/// the reference's `addProperty("email", null)` is a `JsonNull`, which its `JsonElement.toString()`
/// writes (supertokens-python's `GetGeneratedOptionsResponse` requires the key).
fn options_json(o: WebauthnOptions) -> Value {
    let mut out = json!({
        "webauthnGeneratedOptionsId": o.id,
        "relyingPartyId": o.rp_id,
        "relyingPartyName": o.rp_name,
        "challenge": o.challenge,
        "timeout": o.expires_at - o.created_at,
        "origin": o.origin,
    });
    out["email"] = json!(o.email);
    out["createdAt"] = json!(o.created_at);
    out["expiresAt"] = json!(o.expires_at);
    out["userVerification"] = json!(o.user_verification);
    out["userPresence"] = json!(o.user_presence_required);
    out
}

/// `GET /<tenant>/recipe/webauthn/options?webauthnGeneratedOptionsId=`.
async fn get_options(ctx: &Ctx<'_>) -> HResult {
    let id = ctx.query.string("webauthnGeneratedOptionsId")?;
    match ctx.state.core.webauthn_options(&ctx.tenant, &id).await? {
        Some(o) => ok(options_json(o)),
        None => status("OPTIONS_NOT_FOUND_ERROR", json!({})),
    }
}

/// `DELETE /<tenant>/recipe/webauthn/options/remove?webauthnGeneratedOptionsId=`.
async fn remove_options(ctx: &Ctx<'_>) -> HResult {
    let id = ctx.query.string("webauthnGeneratedOptionsId")?;
    if ctx.state.core.webauthn_remove_options(&ctx.tenant, &id).await? {
        ok(json!({}))
    } else {
        status("OPTIONS_NOT_FOUND_ERROR", json!({}))
    }
}

/// `POST /<tenant>/recipe/webauthn/signup`.
async fn sign_up(ctx: &Ctx<'_>) -> HResult {
    let options_id = ctx.body.string("webauthnGeneratedOptionsId")?;
    let credential = Value::Object(ctx.body.object("credential")?);
    match ctx.state.core.webauthn_sign_up(&ctx.tenant, &options_id, &credential).await? {
        SignUpOutcome::Ok { user, recipe_user_id, credential_id, rp_id, rp_name } => ok(json!({
            "user": user.linked_at(ctx.version()),
            "webauthnCredentialId": credential_id,
            "relyingPartyId": rp_id,
            "relyingPartyName": rp_name,
            "recipeUserId": recipe_user_id,
        })),
        SignUpOutcome::EmailAlreadyExists => status("EMAIL_ALREADY_EXISTS_ERROR", json!({})),
        SignUpOutcome::Failed(f) => failure(f),
    }
}

/// `POST /<tenant>/recipe/webauthn/signin`.
async fn sign_in(ctx: &Ctx<'_>) -> HResult {
    let options_id = ctx.body.string("webauthnGeneratedOptionsId")?;
    let credential = Value::Object(ctx.body.object("credential")?);
    let version = ctx.version();
    match ctx.state.core.webauthn_sign_in(&ctx.tenant, &options_id, &credential, version).await? {
        SignInOutcome::Ok { user, recipe_user_id } => {
            ok(json!({"user": user.linked_at(version), "recipeUserId": recipe_user_id}))
        }
        SignInOutcome::CredentialNotFound => status("CREDENTIAL_NOT_FOUND_ERROR", json!({})),
        SignInOutcome::UnknownUser => status("UNKNOWN_USER_ID_ERROR", json!({})),
        SignInOutcome::Failed(f) => failure(f),
    }
}

/// `POST /<tenant>/recipe/webauthn/user/credential/register`.
async fn register_credential(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let recipe_user_id = b.string("recipeUserId")?;
    let options_id = b.string("webauthnGeneratedOptionsId")?;
    let credential = Value::Object(b.object("credential")?);
    let core = &ctx.state.core;
    match core.webauthn_register_credential(&ctx.tenant, &recipe_user_id, &options_id, &credential).await? {
        RegisterCredentialOutcome::Ok { credential_id, email, rp_id, rp_name } => {
            // `email` written even when it is `null`, as the reference's `JsonElement.toString()` does
            let mut out = json!({"webauthnCredentialId": credential_id, "recipeUserId": recipe_user_id});
            out["email"] = json!(email);
            out["relyingPartyId"] = json!(rp_id);
            out["relyingPartyName"] = json!(rp_name);
            ok(out)
        }
        RegisterCredentialOutcome::CredentialAlreadyExists => status("CREDENTIAL_ALREADY_EXISTS_ERROR", json!({})),
        RegisterCredentialOutcome::UnknownUser => status("UNKNOWN_USER_ID_ERROR", json!({})),
        RegisterCredentialOutcome::Failed(f) => failure(f),
    }
}

/// `GET /<tenant>/recipe/webauthn/user/credential?webauthnCredentialId=&recipeUserId=`.
async fn get_credential(ctx: &Ctx<'_>) -> HResult {
    let recipe_user_id = ctx.query.string("recipeUserId")?;
    let credential_id = ctx.query.string("webauthnCredentialId")?;
    match ctx.state.core.webauthn_user_credential(&ctx.tenant, &credential_id, &recipe_user_id).await? {
        Some(c) => ok_last(object(json!({
            "webauthnCredentialId": c.credential_id,
            "recipeUserId": recipe_user_id,
            "relyingPartyId": c.rp_id,
            "createdAt": c.created_at,
            "updatedAt": c.updated_at,
        }))),
        None => status("CREDENTIAL_NOT_FOUND_ERROR", json!({})),
    }
}

/// `GET /<tenant>/recipe/webauthn/user/credential/list?recipeUserId=`.
async fn list_credentials(ctx: &Ctx<'_>) -> HResult {
    let recipe_user_id = ctx.query.string("recipeUserId")?;
    let list = ctx.state.core.webauthn_list_credentials(&ctx.tenant, &recipe_user_id).await?;
    let credentials: Vec<Value> = list
        .into_iter()
        .map(|c: CredentialInfo| {
            json!({
                "webauthnCredentialId": c.credential_id,
                "recipeUserId": recipe_user_id,
                "relyingPartyId": c.rp_id,
                "createdAt": c.created_at,
            })
        })
        .collect();
    ok_last(object(json!({"credentials": credentials})))
}

/// `DELETE /<tenant>/recipe/webauthn/user/credential/remove?recipeUserId=&webauthnCredentialId=`.
async fn remove_credential(ctx: &Ctx<'_>) -> HResult {
    let recipe_user_id = ctx.query.string("recipeUserId")?;
    let credential_id = ctx.query.string("webauthnCredentialId")?;
    if ctx.state.core.webauthn_remove_credential(&ctx.tenant, &recipe_user_id, &credential_id).await? {
        ok(json!({}))
    } else {
        status("CREDENTIAL_NOT_FOUND_ERROR", json!({}))
    }
}

/// `POST /<tenant>/recipe/webauthn/user/recover/token`.
async fn recovery_token(ctx: &Ctx<'_>) -> HResult {
    let email = ctx.body.stored("email")?;
    let user_id = ctx.body.string("userId")?;
    match ctx.state.core.webauthn_recovery_token(&ctx.tenant, &user_id, &email).await? {
        Some(token) => ok(json!({"token": token})),
        None => status("UNKNOWN_USER_ID_ERROR", json!({})),
    }
}

/// `POST /<tenant>/recipe/webauthn/user/recover/token/consume`.
async fn consume_recovery_token(ctx: &Ctx<'_>) -> HResult {
    let token = ctx.body.string("token")?;
    match ctx.state.core.webauthn_consume_recovery_token(&ctx.tenant, &token).await? {
        Some((user_id, email)) => ok(json!({"userId": user_id, "email": email})),
        None => status("RECOVER_ACCOUNT_TOKEN_INVALID_ERROR", json!({})),
    }
}

/// `GET /<tenant>/recipe/webauthn/user/recover?token=`.
async fn recovered_user(ctx: &Ctx<'_>) -> HResult {
    let token = ctx.query.string("token")?;
    match ctx.state.core.webauthn_recovered_user(&ctx.tenant, &token).await? {
        Some(found) => {
            let mut out = Map::new();
            if let Some(id) = found.recipe_user_id {
                out.insert("recipeUserId".into(), json!(id));
            }
            out.insert("user".into(), json!(found.user.linked_at(ctx.version())));
            ok(Value::Object(out))
        }
        None => status("RECOVER_ACCOUNT_TOKEN_INVALID_ERROR", json!({})),
    }
}

/// `PUT /<tenant>/recipe/webauthn/user/email`.
async fn update_email(ctx: &Ctx<'_>) -> HResult {
    let recipe_user_id = ctx.body.string("recipeUserId")?;
    let email = ctx.body.stored("email")?;
    match ctx.state.core.webauthn_update_email(&ctx.tenant, &recipe_user_id, &email).await? {
        UpdateEmailOutcome::Ok => ok(json!({})),
        UpdateEmailOutcome::UnknownUser => status("UNKNOWN_USER_ID_ERROR", json!({})),
        UpdateEmailOutcome::EmailAlreadyExists => status("EMAIL_ALREADY_EXISTS_ERROR", json!({})),
        UpdateEmailOutcome::EmailChangeNotAllowed => status("USER_WITH_EMAIL_ALREADY_EXISTS_ERROR", json!({})),
    }
}
