//! Third-party provider configs of a tenant (`PUT …/config/thirdparty`, `POST …/remove`): the
//! reference's `ThirdPartyConfig.Provider`, read from a request as its Gson does, validated as
//! its `ThirdParty.verifyThirdPartyProvidersArray`, and written back as its `Provider.toJson`.
//!
//! What the reference lets through to its database and then fails on there (a 500: an id
//! longer than its column, a client without `clientId`, two clients of one type) is a 400
//! here, with or without `skipValidation`.

use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{java_trim, TenantIdentifier};
use crate::storage::{ProviderClient, ThirdPartyProvider, UserInfoMap, UserInfoMapFields};
use serde_json::{Map, Value};

/// The reference's prefix for every provider-validation message.
const INVALID: &str = "Invalid third party config: ";

fn invalid(msg: impl std::fmt::Display) -> CoreError {
    CoreError::bad(format!("{INVALID}{msg}"))
}

/// A field of the provider JSON with the wrong type (the reference's Gson fails there with a
/// 500; the message is the input parser's).
fn wrong_type(field: &str) -> CoreError {
    CoreError::bad(format!("Field name '{field}' is invalid in JSON input"))
}

/// A string field as Gson reads one: a string, or a number or boolean as its text; `null` or
/// absent is `None`.
fn string(obj: &Map<String, Value>, field: &str) -> CoreResult<Option<String>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(wrong_type(field)),
    }
}

/// A `Boolean` field as Gson reads one: a boolean, or a string read as Java's `parseBoolean`.
fn boolean(obj: &Map<String, Value>, field: &str) -> CoreResult<Option<bool>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => Ok(Some(s.eq_ignore_ascii_case("true"))),
        Some(_) => Err(wrong_type(field)),
    }
}

fn object(obj: &Map<String, Value>, field: &str) -> CoreResult<Option<Map<String, Value>>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err(wrong_type(field)),
    }
}

fn array<'a>(obj: &'a Map<String, Value>, field: &str) -> CoreResult<Option<&'a Vec<Value>>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(wrong_type(field)),
    }
}

fn user_info_fields(obj: Option<Map<String, Value>>) -> CoreResult<UserInfoMapFields> {
    let Some(o) = obj else { return Ok(UserInfoMapFields::default()) };
    Ok(UserInfoMapFields {
        user_id: string(&o, "userId")?,
        email: string(&o, "email")?,
        email_verified: string(&o, "emailVerified")?,
    })
}

fn client_from_json(v: &Value) -> CoreResult<ProviderClient> {
    let Value::Object(c) = v else { return Err(wrong_type("clients")) };
    let scope = match array(c, "scope")? {
        None => None,
        Some(items) => Some(
            items
                .iter()
                .map(|i| match i {
                    Value::Null => Ok(None),
                    Value::String(s) => Ok(Some(s.clone())),
                    Value::Number(n) => Ok(Some(n.to_string())),
                    Value::Bool(b) => Ok(Some(b.to_string())),
                    _ => Err(wrong_type("scope")),
                })
                .collect::<CoreResult<Vec<_>>>()?,
        ),
    };
    Ok(ProviderClient {
        client_type: string(c, "clientType")?,
        // Absent: caught by the validation (`clientId cannot be null`), which the storage's
        // NOT NULL makes unconditional here.
        client_id: string(c, "clientId")?.ok_or_else(|| invalid("clientId cannot be null"))?,
        client_secret: string(c, "clientSecret")?,
        scope,
        force_pkce: boolean(c, "forcePKCE")?,
        additional_config: object(c, "additionalConfig")?,
    })
}

/// The provider given as a request's `config` (its `thirdPartyId` already read and checked to
/// be a string by the caller), normalised as the reference's API does: the id trimmed, missing
/// clients and user-info map as empty ones.
pub fn provider_from_json(config: &Map<String, Value>) -> CoreResult<ThirdPartyProvider> {
    let user_info_map = match object(config, "userInfoMap")? {
        None => UserInfoMap::default(),
        Some(m) => UserInfoMap {
            from_id_token_payload: user_info_fields(object(&m, "fromIdTokenPayload")?)?,
            from_user_info_api: user_info_fields(object(&m, "fromUserInfoAPI")?)?,
        },
    };
    let clients = match array(config, "clients")? {
        None => Vec::new(),
        Some(items) => items.iter().map(client_from_json).collect::<CoreResult<Vec<_>>>()?,
    };
    Ok(ThirdPartyProvider {
        third_party_id: java_trim(&string(config, "thirdPartyId")?.unwrap_or_default()).to_string(),
        name: string(config, "name")?,
        clients,
        authorization_endpoint: string(config, "authorizationEndpoint")?,
        authorization_endpoint_query_params: object(config, "authorizationEndpointQueryParams")?,
        token_endpoint: string(config, "tokenEndpoint")?,
        token_endpoint_body_params: object(config, "tokenEndpointBodyParams")?,
        user_info_endpoint: string(config, "userInfoEndpoint")?,
        user_info_endpoint_query_params: object(config, "userInfoEndpointQueryParams")?,
        user_info_endpoint_headers: object(config, "userInfoEndpointHeaders")?,
        jwks_uri: string(config, "jwksURI")?,
        oidc_discovery_endpoint: string(config, "oidcDiscoveryEndpoint")?,
        require_email: boolean(config, "requireEmail")?,
        user_info_map,
    })
}

/// A JSON value without the object members that are `null`, at every depth (Gson's default
/// serialisation, which the reference applies to a client's `additionalConfig`).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(_, x)| !x.is_null()).map(|(k, x)| (k.clone(), without_nulls(x))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn put_str(out: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        out.insert(key.into(), Value::String(v.clone()));
    }
}

fn user_info_fields_json(f: &UserInfoMapFields) -> Value {
    let mut out = Map::new();
    put_str(&mut out, "userId", &f.user_id);
    put_str(&mut out, "email", &f.email);
    put_str(&mut out, "emailVerified", &f.email_verified);
    Value::Object(out)
}

/// The provider as the reference's `Provider.toJson` writes it: fields in its order, absent
/// ones left out, the four parameter maps with their `null` values kept, the clients'
/// `additionalConfig` without them.
pub fn provider_json(p: &ThirdPartyProvider) -> Value {
    let mut out = Map::new();
    out.insert("thirdPartyId".into(), Value::String(p.third_party_id.clone()));
    put_str(&mut out, "name", &p.name);
    let clients = p
        .clients
        .iter()
        .map(|c| {
            let mut o = Map::new();
            put_str(&mut o, "clientType", &c.client_type);
            o.insert("clientId".into(), Value::String(c.client_id.clone()));
            put_str(&mut o, "clientSecret", &c.client_secret);
            if let Some(scope) = &c.scope {
                let items = scope.iter().map(|s| s.clone().map(Value::String).unwrap_or(Value::Null)).collect();
                o.insert("scope".into(), Value::Array(items));
            }
            if let Some(b) = c.force_pkce {
                o.insert("forcePKCE".into(), Value::Bool(b));
            }
            if let Some(cfg) = &c.additional_config {
                o.insert("additionalConfig".into(), without_nulls(&Value::Object(cfg.clone())));
            }
            Value::Object(o)
        })
        .collect();
    out.insert("clients".into(), Value::Array(clients));
    let put_map = |out: &mut Map<String, Value>, key: &str, m: &Option<Map<String, Value>>| {
        if let Some(m) = m {
            out.insert(key.into(), Value::Object(m.clone()));
        }
    };
    put_str(&mut out, "authorizationEndpoint", &p.authorization_endpoint);
    put_map(&mut out, "authorizationEndpointQueryParams", &p.authorization_endpoint_query_params);
    put_str(&mut out, "tokenEndpoint", &p.token_endpoint);
    put_map(&mut out, "tokenEndpointBodyParams", &p.token_endpoint_body_params);
    put_str(&mut out, "userInfoEndpoint", &p.user_info_endpoint);
    put_map(&mut out, "userInfoEndpointQueryParams", &p.user_info_endpoint_query_params);
    put_map(&mut out, "userInfoEndpointHeaders", &p.user_info_endpoint_headers);
    put_str(&mut out, "jwksURI", &p.jwks_uri);
    put_str(&mut out, "oidcDiscoveryEndpoint", &p.oidc_discovery_endpoint);
    if let Some(b) = p.require_email {
        out.insert("requireEmail".into(), Value::Bool(b));
    }
    let mut map = Map::new();
    map.insert("fromIdTokenPayload".into(), user_info_fields_json(&p.user_info_map.from_id_token_payload));
    map.insert("fromUserInfoAPI".into(), user_info_fields_json(&p.user_info_map.from_user_info_api));
    out.insert("userInfoMap".into(), Value::Object(map));
    Value::Object(out)
}

/// A non-empty string value of `additionalConfig[key]` (the reference's Apple, Google
/// Workspaces and Boxy SAML checks).
fn non_empty_string(cfg: &Map<String, Value>, key: &str) -> bool {
    cfg.get(key).and_then(Value::as_str).is_some_and(|s| !s.is_empty())
}

/// The reference's `verifyThirdPartyProviderClient`.
fn verify_client(c: &ProviderClient, third_party_id: &str) -> CoreResult<()> {
    if c.scope.as_ref().is_some_and(|s| s.iter().any(Option::is_none)) {
        return Err(invalid("scope array cannot contain a null"));
    }
    let cfg = c.additional_config.as_ref();
    if third_party_id.starts_with("apple") {
        if !cfg.is_some_and(|cfg| ["keyId", "teamId", "privateKey"].iter().all(|k| non_empty_string(cfg, k))) {
            return Err(invalid(
                "a non empty string value must be specified for keyId, teamId and privateKey in the additionalConfig for Apple provider",
            ));
        }
    } else if third_party_id.starts_with("google-workspaces") {
        if cfg.is_some_and(|cfg| cfg.contains_key("hd") && !non_empty_string(cfg, "hd")) {
            return Err(invalid("hd in additionalConfig must be a non empty string value"));
        }
    } else if third_party_id.starts_with("boxy-saml")
        && cfg.is_some_and(|cfg| cfg.contains_key("boxyURL") && !non_empty_string(cfg, "boxyURL"))
    {
        return Err(invalid(
            "a non empty string value must be specified for boxyURL in the additionalConfig for Boxy SAML provider",
        ));
    }
    Ok(())
}

/// The reference's `verifyThirdPartyProvidersArray` over a tenant's whole provider list.
fn verify_providers(providers: &[ThirdPartyProvider]) -> CoreResult<()> {
    let mut ids = std::collections::HashSet::new();
    for p in providers {
        if !ids.insert(p.third_party_id.as_str()) {
            return Err(invalid("Duplicate ThirdPartyId was specified in the providers list."));
        }
        if p.third_party_id.is_empty() {
            return Err(invalid("thirdPartyId cannot be null or empty"));
        }
        let mut types = std::collections::HashSet::new();
        for c in &p.clients {
            if !types.insert(&c.client_type) {
                return Err(invalid("Duplicate clientType was specified in the clients list."));
            }
            verify_client(c, &p.third_party_id)?;
        }
    }
    Ok(())
}

/// What the tables can hold, checked whether or not the caller skips the validation (the
/// reference's database refuses the rest with a 500): the column widths, and one client per
/// client type (the key; a missing type and `""` are the same).
fn check_storable(p: &ThirdPartyProvider) -> CoreResult<()> {
    let fits = |what: &str, v: Option<&str>, max: usize| match v {
        Some(v) if v.chars().count() > max => Err(invalid(format!("{what} must be at most {max} characters long"))),
        _ => Ok(()),
    };
    fits("thirdPartyId", Some(&p.third_party_id), 28)?;
    fits("name", p.name.as_deref(), 64)?;
    for (source, f) in [
        ("fromIdTokenPayload", &p.user_info_map.from_id_token_payload),
        ("fromUserInfoAPI", &p.user_info_map.from_user_info_api),
    ] {
        for (field, v) in [("userId", &f.user_id), ("email", &f.email), ("emailVerified", &f.email_verified)] {
            fits(&format!("userInfoMap.{source}.{field}"), v.as_deref(), 64)?;
        }
    }
    let mut types = std::collections::HashSet::new();
    for c in &p.clients {
        if !types.insert(c.client_type.as_deref().unwrap_or("")) {
            return Err(invalid("Duplicate clientType was specified in the clients list."));
        }
        fits("clientType", c.client_type.as_deref(), 64)?;
        fits("clientId", Some(&c.client_id), 256)?;
        for s in c.scope.iter().flatten().flatten() {
            fits("a scope", Some(s), 128)?;
        }
    }
    Ok(())
}

impl Core {
    /// `PUT /<tenant>/recipe/multitenancy/config/thirdparty`: add the provider to the tenant or
    /// replace the one with its id; true when it is new. As the reference, the whole list the
    /// tenant would then have is validated unless `skip_validation`, and no permission check
    /// applies (a tenant may change its own providers).
    pub async fn create_or_update_thirdparty_provider(
        &self,
        tenant: &TenantIdentifier,
        provider: ThirdPartyProvider,
        skip_validation: bool,
    ) -> CoreResult<bool> {
        let entry = self.tenant(tenant).await?;
        if !skip_validation {
            let mut list: Vec<ThirdPartyProvider> = entry.record.third_party_providers.clone();
            match list.iter_mut().find(|p| p.third_party_id == provider.third_party_id) {
                Some(p) => *p = provider.clone(),
                None => list.push(provider.clone()),
            }
            verify_providers(&list)?;
        }
        check_storable(&provider)?;
        let created = match self.storage.upsert_thirdparty_provider(tenant, &provider).await {
            Ok(c) => c,
            Err(crate::StorageError::TenantOrAppNotFound) => {
                return Err(CoreError::TenantOrAppNotFound(tenant.not_found_message()))
            }
            Err(e) => return Err(e.into()),
        };
        self.invalidate_app(&tenant.app);
        Ok(created)
    }

    /// `POST /<tenant>/recipe/multitenancy/config/thirdparty/remove`: whether the provider
    /// existed. As the reference, the providers that stay are validated first.
    pub async fn remove_thirdparty_provider(
        &self,
        tenant: &TenantIdentifier,
        third_party_id: &str,
    ) -> CoreResult<bool> {
        let entry = self.tenant(tenant).await?;
        let remaining: Vec<ThirdPartyProvider> =
            entry.record.third_party_providers.iter().filter(|p| p.third_party_id != third_party_id).cloned().collect();
        verify_providers(&remaining)?;
        let existed = self.storage.delete_thirdparty_provider(tenant, third_party_id).await?;
        self.invalidate_app(&tenant.app);
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> CoreResult<ThirdPartyProvider> {
        provider_from_json(v.as_object().unwrap())
    }

    #[test]
    fn read_and_written_as_the_reference() {
        let p = parse(json!({
            "thirdPartyId": " google ", "name": "Google", "requireEmail": "TRUE",
            "clients": [{"clientId": 12, "scope": ["email", null], "forcePKCE": true,
                         "additionalConfig": {"a": null, "b": {"c": null, "d": 1}}}],
            "authorizationEndpointQueryParams": {"x": null},
            "userInfoMap": {"fromIdTokenPayload": {"userId": "sub"}},
            "unknown": 1
        }))
        .unwrap();
        assert_eq!(p.third_party_id, "google");
        assert_eq!(p.require_email, Some(true));
        assert_eq!(p.clients[0].client_id, "12");
        assert_eq!(
            provider_json(&p),
            json!({"thirdPartyId": "google", "name": "Google",
                   "clients": [{"clientId": "12", "scope": ["email", null], "forcePKCE": true,
                                "additionalConfig": {"b": {"d": 1}}}],
                   "authorizationEndpointQueryParams": {"x": null}, "requireEmail": true,
                   "userInfoMap": {"fromIdTokenPayload": {"userId": "sub"}, "fromUserInfoAPI": {}}})
        );
        let keys: Vec<String> = provider_json(&p).as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["thirdPartyId", "name", "clients", "authorizationEndpointQueryParams", "requireEmail", "userInfoMap"]
        );
        assert!(verify_providers(&[p]).is_err(), "a null scope");
    }

    #[test]
    fn validation_messages() {
        let msg = |v: Value| match parse(v).and_then(|p| check_storable(&p).and(verify_providers(&[p]))) {
            Err(e) => e.to_string(),
            Ok(()) => "ok".into(),
        };
        assert_eq!(msg(json!({"thirdPartyId": "x", "clients": [{"clientId": "a"}]})), "ok");
        assert_eq!(
            msg(json!({"thirdPartyId": " "})),
            "Invalid third party config: thirdPartyId cannot be null or empty"
        );
        assert_eq!(
            msg(json!({"thirdPartyId": "x", "clients": [{}]})),
            "Invalid third party config: clientId cannot be null"
        );
        assert_eq!(
            msg(json!({"thirdPartyId": "x", "clients": [{"clientId": "a"}, {"clientId": "b", "clientType": ""}]})),
            "Invalid third party config: Duplicate clientType was specified in the clients list."
        );
        assert!(msg(json!({"thirdPartyId": "apple", "clients": [{"clientId": "a"}]})).contains("for Apple provider"));
        let apple = json!({"thirdPartyId": "apple", "clients": [{"clientId": "a",
            "additionalConfig": {"keyId": "k", "teamId": "t", "privateKey": "p"}}]});
        assert_eq!(msg(apple), "ok");
        let gw = json!({"thirdPartyId": "google-workspaces", "clients": [{"clientId": "a", "additionalConfig": {"hd": ""}}]});
        assert_eq!(msg(gw), "Invalid third party config: hd in additionalConfig must be a non empty string value");
        let boxy =
            json!({"thirdPartyId": "boxy-saml", "clients": [{"clientId": "a", "additionalConfig": {"boxyURL": 1}}]});
        assert!(msg(boxy).contains("boxyURL"));
        assert_eq!(
            msg(json!({"thirdPartyId": "x".repeat(29)})),
            "Invalid third party config: thirdPartyId must be at most 28 characters long"
        );
        assert_eq!(msg(json!({"thirdPartyId": "x", "clients": {}})), "Field name 'clients' is invalid in JSON input");
        assert_eq!(msg(json!({"thirdPartyId": "x", "name": []})), "Field name 'name' is invalid in JSON input");
        assert_eq!(
            msg(json!({"thirdPartyId": "x", "tokenEndpointBodyParams": "a=b"})),
            "Field name 'tokenEndpointBodyParams' is invalid in JSON input"
        );
    }
}
