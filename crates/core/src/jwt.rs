//! The JWT recipe: `POST /recipe/jwt` (a JWT signed with the app's keys) and the JWKS.

use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::AppId;
use crate::session::token::aud_as_signed;
use serde_json::{json, Map, Value};

impl Core {
    /// JWKS keys of an app and the `Cache-Control` max-age.
    pub async fn jwks(&self, app: &AppId) -> CoreResult<(Vec<crate::crypto::Jwk>, i64)> {
        let cfg = self.app_config(app).await?;
        let set = self.app_state(app).keys.get(&self.key_source(), &cfg, false).await?;
        let now = self.now();
        Ok((set.jwks(now), set.jwks_max_age_s(now)))
    }

    /// The algorithm `/recipe/jwt` signs with: the app's `access_token_signing_algorithm`.
    pub async fn jwt_signing_algorithm(&self, app: &AppId) -> CoreResult<crate::crypto::KeyAlg> {
        let cfg = self.app_config(app).await?;
        Ok(crate::signing_keys::configured_alg(&cfg))
    }

    /// `POST /recipe/jwt`: sign an arbitrary payload with the app's key of its
    /// `access_token_signing_algorithm`.
    pub async fn create_jwt(
        &self,
        app: &AppId,
        mut payload: Map<String, Value>,
        jwks_domain: &str,
        validity_s: i64,
        use_static: bool,
    ) -> CoreResult<String> {
        let cfg = self.app_config(app).await?;
        let key = self.signing_key(app, &cfg, use_static).await?;
        let now = self.now() / 1000;
        // The caller's claims win, `iat` and `exp` included, as with the reference (whose JWT
        // builder adds the payload after its own `iat`, `exp` and `iss`).
        payload.entry("iat").or_insert_with(|| json!(now));
        payload.entry("exp").or_insert_with(|| json!(now + validity_s));
        payload.entry("iss").or_insert_with(|| json!(jwks_domain));
        aud_as_signed(&mut payload);
        let header = json!({"kid": key.kid, "typ": "JWT", "alg": key.alg().name()});
        key.sign_jwt(&header, &Value::Object(payload)).map_err(CoreError::Internal)
    }
}
