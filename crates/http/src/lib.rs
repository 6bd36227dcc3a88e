//! The CDI over HTTP (actix-web). One catch-all service resolves the path with the reference's
//! prefix rules, checks the method, the API key and the `cdi-version`, enforces the API's
//! app/tenant scope, and calls the handler the route table (`handlers::RECIPES`) names for the
//! method and the `rid` header. Handlers are thin adapters over `st_core::Core`.

pub mod ctx;
pub mod error;
pub mod handlers;
pub mod input;
pub mod metrics;
pub mod router;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use ctx::{Ctx, Reply};
use error::ApiError;
use handlers::common;
use input::{Body, Query};
use router::{Router, Scope};
use st_core::cdi::CdiVersion;
use st_core::ids::{AppId, TenantId, TenantIdentifier};
use st_core::Core;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// CDI versions this server serves (see `st_config::SUPPORTED_CDI_VERSIONS`).
pub use st_config::SUPPORTED_CDI_VERSIONS;

/// Compare dotted versions numerically.
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |s: &str| s.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    let (mut x, mut y) = (parse(a), parse(b));
    let n = x.len().max(y.len());
    x.resize(n, 0);
    y.resize(n, 0);
    x.cmp(&y)
}

/// `/hello` token bucket per app: 5 tokens, one more every 200 ms. When empty, `/hello` still
/// answers but skips the storage check (so health checks cannot hammer the database).
#[derive(Default)]
pub struct HelloLimiter(Mutex<HashMap<AppId, (f64, i64)>>);

impl HelloLimiter {
    pub fn allow(&self, app: &AppId, now: i64) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = m.entry(app.clone()).or_insert((5.0, now));
        *tokens = (*tokens + (now - *last).max(0) as f64 / 200.0).min(5.0);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Shared state of the HTTP layer.
pub struct ServerState {
    pub core: Arc<Core>,
    pub router: Router,
    /// Absolute path of the loaded config file (for `/config?pid=`).
    pub config_path: String,
    pub hello_limiter: HelloLimiter,
    pub metrics: metrics::Metrics,
    request_counter: AtomicU64,
    /// Compiled `ip_allow_regex` / `ip_deny_regex` patterns (None = invalid pattern).
    ip_patterns: Mutex<HashMap<String, Option<Arc<regex::Regex>>>>,
}

impl ServerState {
    pub fn new(core: Arc<Core>, config_path: String) -> ServerState {
        ServerState {
            core,
            router: Router::new(handlers::RECIPES),
            config_path,
            hello_limiter: HelloLimiter::default(),
            metrics: metrics::Metrics::default(),
            ip_patterns: Mutex::new(HashMap::new()),
            request_counter: AtomicU64::new(0),
        }
    }
}

impl ServerState {
    /// A compiled, fully-anchored pattern (as Tomcat's `RemoteAddrFilter` matches the whole
    /// address). An invalid pattern matches nothing.
    fn ip_pattern(&self, pattern: &str) -> Option<Arc<regex::Regex>> {
        let mut cache = self.ip_patterns.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| regex::Regex::new(&format!("^(?:{pattern})$")).ok().map(Arc::new))
            .clone()
    }

    /// `ip_allow_regex` / `ip_deny_regex` of the tenant (or, for an unknown tenant, of the
    /// app's public tenant): deny wins; with an allow pattern, other addresses are refused.
    fn ip_allowed(&self, cfg: &st_config::CoreConfig, ip: &str) -> bool {
        if let Some(deny) = &cfg.ip_deny_regex {
            if self.ip_pattern(deny).map(|r| r.is_match(ip)).unwrap_or(false) {
                return false;
            }
        }
        match &cfg.ip_allow_regex {
            Some(allow) => self.ip_pattern(allow).map(|r| r.is_match(ip)).unwrap_or(false),
            None => true,
        }
    }
}

/// Register the catch-all service (and body limit) on an actix `App`.
pub fn configure(state: web::Data<ServerState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let limit = state.core.base.max_request_body_bytes;
        cfg.app_data(state).app_data(web::PayloadConfig::new(limit)).default_service(web::to(handle));
    }
}

/// The app's API keys, or else the base config's `supertokens_saas_secret`, as the reference's
/// `assertThatAPIKeyCheckPasses`: open only when neither is set.
fn api_key_ok(req: &HttpRequest, keys: &[String], saas_secret: Option<&str>) -> bool {
    if keys.is_empty() && saas_secret.is_none() {
        return true;
    }
    let Some(given) = given_api_key(req) else { return false };
    // Compare against every key (and the secret) without stopping early.
    let by_key = keys.iter().fold(false, |found, k| st_core::random::ct_eq(given, k) | found);
    by_key | saas_secret.is_some_and(|s| st_core::random::ct_eq(given, s))
}

/// The key a request presents: `api-key`, else `Authorization` (with or without `Bearer `).
fn given_api_key(req: &HttpRequest) -> Option<&str> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    match header("api-key") {
        Some(k) => Some(k),
        None => match header("authorization") {
            Some(a) if a.len() > 7 && a[..7].eq_ignore_ascii_case("bearer ") => Some(a[7..].trim()),
            other => other,
        },
    }
}

/// Whether the protected configs (`st_config::PROTECTED_CONFIGS`) are hidden from this request
/// and may not be changed by it: a `supertokens_saas_secret` is set and the request did not
/// present it (the reference's `shouldProtectProtectedConfig`).
fn protects_configs(req: &HttpRequest, saas_secret: Option<&str>) -> bool {
    match saas_secret {
        None => false,
        Some(secret) => !given_api_key(req).is_some_and(|k| st_core::random::ct_eq(k, secret)),
    }
}

/// A peer address as Java's `getRemoteAddr()` writes it, which is what the reference's IP
/// patterns are matched against: an IPv4-mapped IPv6 peer (a dual-stack listener) as plain
/// IPv4, and IPv6 as eight lower-case hex groups without zero compression (`0:0:0:0:0:0:0:1`).
fn java_ip_string(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.segments().iter().map(|s| format!("{s:x}")).collect::<Vec<_>>().join(":"),
        },
    }
}

/// The request's CDI version (§b.3), in the reference's order: a missing header means the
/// app's maximum; a malformed one, one above the maximum or below the minimum is a 400. As the
/// reference, this runs for every API, even those that do not need a served version
/// (`/hello`, `/apiversion`, the JWKS); [`require_served`] then checks the set for the others.
fn negotiate_version(req: &HttpRequest, cfg: &st_config::CoreConfig) -> Result<Negotiated, ApiError> {
    let latest = SUPPORTED_CDI_VERSIONS.iter().copied().max_by(|a, b| version_cmp(a, b)).unwrap_or("5.6");
    let max = cfg.supertokens_max_cdi_version.clone().unwrap_or_else(|| latest.to_string());
    let Some(raw) = req.headers().get("cdi-version") else {
        return Ok(Negotiated { raw: max.clone(), version: CdiVersion::parse(&max) });
    };
    let v = raw.to_str().map_err(|_| ApiError::BadRequest("cdi-version header is invalid".into()))?.trim();
    if !st_config::is_version(v) {
        return Err(ApiError::BadRequest("cdi-version header is invalid".into()));
    }
    if version_cmp(v, &max).is_gt() {
        return Err(ApiError::BadRequest(format!("cdi-version {v} not supported")));
    }
    if let Some(min) = &cfg.supertokens_min_cdi_version {
        if version_cmp(v, min).is_lt() {
            return Err(ApiError::BadRequest(format!(
                "cdi-version {v} is lower than the minimum allowed version {min}"
            )));
        }
    }
    Ok(Negotiated { raw: v.to_string(), version: CdiVersion::parse(v) })
}

/// A version header that passed the bounds: its text, and its value when it has the
/// `major.minor` shape.
struct Negotiated {
    raw: String,
    version: Option<CdiVersion>,
}

impl Negotiated {
    /// Below 3.0 (the tenant segment did not exist yet). A shape the served set cannot
    /// contain (`5.4.0`, `5`) is ordered numerically, as the reference's `SemVer`.
    fn before_tenants(&self) -> bool {
        version_cmp(&self.raw, "3.0").is_lt()
    }

    /// The served version (an exact match in the set: `5.4.0` is not `5.4`), else the 400.
    fn require_served(&self) -> Result<CdiVersion, ApiError> {
        self.version
            .filter(|_| SUPPORTED_CDI_VERSIONS.contains(&self.raw.as_str()))
            .ok_or_else(|| ApiError::BadRequest(format!("cdi-version {} not supported", self.raw)))
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<ServerState>) -> HttpResponse {
    let started = Instant::now();
    let id = state.request_counter.fetch_add(1, Ordering::Relaxed);
    // OpenTelemetry request span (exported only when a collector is configured; otherwise no
    // layer enables this target and the span is a no-op).
    let span = tracing::debug_span!(
        target: "st_http::request",
        "http.request",
        otel.kind = "server",
        http.method = %req.method(),
        http.route = tracing::field::Empty,
        http.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        request_id = id,
    );
    let mut route_path = "unmatched";
    let routed = tracing::Instrument::instrument(route(&req, &body, &state, &mut route_path), span.clone());
    // Under the storage's client-side bound (see `st_core::deadline`): a request the database
    // does not answer in time gets a 500 (the reference's answer to its driver's socket
    // timeout) and the connections it held are discarded.
    let routed = match state.core.storage_request_timeout() {
        None => routed.await,
        Some(bound) => st_core::deadline::within(bound, routed).await.unwrap_or_else(|_| {
            tracing::error!("no answer from the database within {} ms", bound.as_millis());
            Err(ApiError::Internal(format!(
                "storage unavailable: no answer from the database within {} ms",
                bound.as_millis()
            )))
        }),
    };
    let response = match routed {
        Ok(r) => r,
        Err(e) => e.response(),
    };
    if !span.is_disabled() {
        span.record("http.route", route_path);
        span.record("http.status_code", response.status().as_u16());
        if response.status().is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
    let micros = started.elapsed().as_micros() as u64;
    state.metrics.record(route_path, req.method(), response.status().as_u16(), micros);
    tracing::debug!(
        request_id = id,
        method = %req.method(),
        path = req.path(),
        status = response.status().as_u16(),
        latency_us = micros,
        "request"
    );
    response
}

async fn route(
    req: &HttpRequest,
    body: &[u8],
    state: &ServerState,
    route_path: &mut &'static str,
) -> Result<HttpResponse, ApiError> {
    let core = &state.core;
    let base_path = &core.base.base_path;
    let raw_path = req.path();
    let path = if base_path.is_empty() {
        raw_path
    } else {
        match raw_path.strip_prefix(base_path.as_str()) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => return Err(ApiError::NotFound),
        }
    };
    let lower: std::borrow::Cow<'_, str> = if path.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(path.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(path)
    };
    let resolved = state.router.resolve(&lower);
    let Some(route) = resolved.route else { return Err(ApiError::NotFound) };
    *route_path = route.path;
    let method = req.method();
    let Some(endpoint) = route.methods.iter().find(|m| m.method == *method) else {
        return Err(ApiError::MethodNotAllowed);
    };
    // The connection-URI domain the `Host` names, when it is a configured one (§b.1).
    let host = req.headers().get("host").and_then(|h| h.to_str().ok()).or_else(|| req.uri().host());
    let domain = core.domain_of_host(host)?;
    let app = AppId::parse(&resolved.app).map_err(|_| ApiError::NotFound)?.in_domain(domain);
    let tenant_id = if resolved.tenant == "public" {
        TenantId::public()
    } else {
        TenantId::parse(&resolved.tenant).map_err(|_| ApiError::NotFound)?
    };
    let tenant = TenantIdentifier::new(app.clone(), tenant_id);

    // The app's config decides API keys and CDI bounds; an unknown app skips the key check and
    // is answered by the handler's identity check.
    let app_cfg = match core.app_config(&app).await {
        Ok(c) => Some(c),
        Err(st_core::CoreError::TenantOrAppNotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    // The config of the tenant the path names, when it exists (for the rate limits).
    let mut known_tenant_cfg = None;
    if let Some(app_cfg) = &app_cfg {
        // Every request of an existing app counts, whatever its outcome (as the reference).
        core.record_request(&app);
        let tenant_cfg = if tenant.tenant.is_public() {
            known_tenant_cfg = Some(app_cfg.clone());
            app_cfg.clone()
        } else {
            match core.tenant(&tenant).await {
                Ok(t) => {
                    known_tenant_cfg = Some(t.config.clone());
                    t.config.clone()
                }
                Err(_) => app_cfg.clone(),
            }
        };
        if tenant_cfg.ip_allow_regex.is_some() || tenant_cfg.ip_deny_regex.is_some() {
            let ip = req.peer_addr().map(|a| java_ip_string(a.ip())).unwrap_or_default();
            if !state.ip_allowed(&tenant_cfg, &ip) {
                return Err(ApiError::Forbidden("Forbidden".into()));
            }
        }
    }
    if route.needs_api_key {
        if let Some(cfg) = &app_cfg {
            if !api_key_ok(req, &cfg.api_keys, core.base.saas_secret.as_deref()) {
                return Err(ApiError::InvalidApiKey);
            }
            // Request rate limits (ours, off by default): the API-key routes but /apiversion.
            if route.path != "/apiversion" {
                if let Err(limited) = core.admit_request(&tenant, cfg, known_tenant_cfg.as_deref()).await {
                    return Ok(too_many_requests(&app, &limited));
                }
            }
        }
    }
    let negotiated = negotiate_version(req, app_cfg.as_deref().unwrap_or(&core.base))?;
    // Before CDI 3.0 there were no tenants: a tenant segment other than `public` is unknown.
    if negotiated.before_tenants() && !tenant.tenant.is_public() {
        return Err(ApiError::NotFound);
    }
    let cdi = if route.needs_cdi_version { Some(negotiated.require_served()?) } else { negotiated.version };
    let mut tenant = tenant;
    match route.scope {
        Scope::Tenant => {
            core.tenant(&tenant).await?;
        }
        Scope::App => {
            if !tenant.tenant.is_public() {
                if !common::app_apis_public_only(cdi) {
                    // Before 5.0 the tenant segment of an app-wide API is ignored.
                    tenant = TenantIdentifier::new(app.clone(), TenantId::public());
                } else {
                    return Err(ApiError::Forbidden("Only public tenantId can call this app specific API".into()));
                }
            }
            if app_cfg.is_none() {
                return Err(ApiError::BadRequest(TenantIdentifier::app_not_found_message(&app)));
            }
        }
        Scope::AppAnyTenant => {
            if app_cfg.is_none() {
                return Err(ApiError::BadRequest(TenantIdentifier::app_not_found_message(&app)));
            }
        }
        Scope::Management | Scope::None => {}
    }
    let raw_body = body;
    let body = if *method == Method::POST || *method == Method::PUT { Body::parse(body) } else { Body::empty() };
    let rid = req.headers().get("rid").and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string());
    let protect_configs = protects_configs(req, core.base.saas_secret.as_deref());
    let query = Query::parse(req.query_string());
    query.check_no_nul(route.path, rid.as_deref())?;
    let body =
        if input::recipe_checks_nul_itself(route.path, rid.as_deref()) { body.nul_left_to_the_recipe() } else { body };
    let ctx =
        Ctx { state, tenant, body, query, cdi, rid, app_config: app_cfg, protect_configs, request: req, raw_body };
    let handler = endpoint.handler(route.path, ctx.rid.as_deref())?;
    let replied = match handler(&ctx).await {
        Err(ApiError::TenantOrAppGone) => return Err(gone(core, &ctx.tenant, route.scope).await),
        other => other?,
    };
    match replied {
        Reply::Json(v) => Ok(HttpResponse::Ok().content_type("application/json; charset=utf-8").body(v.to_string())),
        Reply::Raw(r) => Ok(r),
    }
}

/// 429 for a request over a rate limit (`st_core::ratelimit`): `Retry-After` in seconds (the end
/// of the window) and a plain-text message naming the limit. The SDKs retry a 429 five times
/// (after 10, 260, 510, 760 and 1010 ms) and then throw with this message.
fn too_many_requests(app: &AppId, l: &st_core::ratelimit::RateLimited) -> HttpResponse {
    let whose = match &l.tenant {
        Some(t) => format!("tenant {t} of app {}", app.as_str()),
        None => format!("app {}", app.as_str()),
    };
    let msg = format!(
        "Too many requests: the rate limit of {whose} ({} requests per {} s) is reached; retry after {} s",
        l.limit, l.window_seconds, l.retry_after_seconds
    );
    let mut r = error::text(actix_web::http::StatusCode::TOO_MANY_REQUESTS, &msg);
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&l.retry_after_seconds.to_string()) {
        r.headers_mut().insert(actix_web::http::header::RETRY_AFTER, v);
    }
    r
}

/// A write found `tenant` (or its app) gone, e.g. removed through another instance since this
/// one cached it (a foreign-key violation): forget the app's cached tenants, so that the next
/// requests look it up again, and answer what the route's own check answers for an unknown
/// tenant or app (the reference's 400 for `TenantOrAppNotFoundException`), as the removing
/// instance does. If both still exist, the missing row was another one: the 500 it was.
async fn gone(core: &Core, tenant: &TenantIdentifier, scope: Scope) -> ApiError {
    core.invalidate_app(&tenant.app);
    let app_first = !matches!(scope, Scope::Tenant);
    if app_first {
        if let Err(e) = core.app(&tenant.app).await {
            return e.into();
        }
    }
    match core.tenant(tenant).await {
        Err(e) => e.into(),
        Ok(_) => ApiError::Internal(ApiError::TenantOrAppGone.to_string()),
    }
}

/// `GET /metrics` on the separate, key-less metrics port (`metrics_port`).
pub async fn metrics_endpoint(state: web::Data<ServerState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render(&state.core))
}

#[cfg(test)]
mod tests {
    use super::java_ip_string;

    #[test]
    fn peer_addresses_are_written_as_java_writes_them() {
        let ip = |s: &str| java_ip_string(s.parse().unwrap());
        assert_eq!(ip("127.0.0.1"), "127.0.0.1");
        assert_eq!(ip("::ffff:10.1.2.3"), "10.1.2.3", "IPv4-mapped: plain IPv4");
        assert_eq!(ip("::1"), "0:0:0:0:0:0:0:1");
        assert_eq!(ip("2001:db8::0a:1"), "2001:db8:0:0:0:0:a:1");
    }
}
