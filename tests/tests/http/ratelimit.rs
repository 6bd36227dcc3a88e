//! Request rate limits per app and per tenant (issue 25, our addition, off by default): 429
//! with `Retry-After` over a limit, the next window admitted, tenants counted apart, the app's
//! limit over all its tenants, the limit shared by two instances on one database (exactly under
//! 40, within a share above), the keys.

use crate::helpers::*;
use serde_json::{json, Value};

/// `GET /<tenant>/users/count`: (status, Retry-After, body).
async fn count(s: &TestServer, tenant: &str) -> (u16, Option<String>, String) {
    let resp = s
        .client
        .get(format!("{}/{tenant}/users/count", s.url))
        .header("cdi-version", "5.4")
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (status, retry, resp.text().await.unwrap_or_default())
}

fn limited(app: i64, tenant: i64, window: i64) -> Value {
    json!({"rate_limit_app_requests": app, "rate_limit_tenant_requests": tenant, "rate_limit_window_seconds": window})
}

async fn limit_then_next_window(b: Backend) {
    let Some(s) = TestServer::spawn(b, limited(3, 0, 10)).await else { return };
    for _ in 0..3 {
        assert_eq!(count(&s, "public").await.0, 200);
    }
    let (st, retry, text) = count(&s, "public").await;
    assert_eq!(st, 429, "{text}");
    assert_eq!(retry.as_deref(), Some("10"), "the window (10 s from START_MS) ends in 10 s");
    assert_eq!(
        text.trim_end(),
        "Too many requests: the rate limit of app public (3 requests per 10 s) is reached; retry after 10 s"
    );
    // Refused requests are not counted; /hello, /apiversion and keyless routes are not limited.
    assert_eq!(s.request("GET", "/hello", None, &[]).await.0, 200);
    assert_eq!(s.request("GET", "/apiversion", None, &[]).await.0, 200);
    assert_eq!(s.request("GET", "/.well-known/jwks.json", None, &[]).await.0, 200);
    // Another route of the app is limited too.
    assert_eq!(s.request("GET", "/recipe/user/metadata?userId=u", None, &H).await.0, 429);
    s.clock.advance_ms(9_001);
    let (st, retry, _) = count(&s, "public").await;
    assert_eq!((st, retry.as_deref()), (429, Some("1")));
    s.clock.advance_ms(999);
    for _ in 0..3 {
        assert_eq!(count(&s, "public").await.0, 200, "a new window");
    }
    assert_eq!(count(&s, "public").await.0, 429);
    s.stop().await;
}

async fn tenants_apart(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for (t, n) in [("t1", 2), ("t2", 3)] {
        let r = s
            .put(
                "/recipe/multitenancy/tenant/v2",
                json!({"tenantId": t, "coreConfig": {"rate_limit_tenant_requests": n}}),
            )
            .await;
        assert_eq!(r["status"], "OK", "{r}");
    }
    for _ in 0..2 {
        assert_eq!(count(&s, "t1").await.0, 200);
    }
    let (st, retry, text) = count(&s, "t1").await;
    assert_eq!((st, retry.as_deref()), (429, Some("1")), "{text}");
    assert!(text.contains("tenant t1 of app public (2 requests per 1 s)"), "{text}");
    // t2 has its own count and limit, public has none.
    for _ in 0..3 {
        assert_eq!(count(&s, "t2").await.0, 200);
    }
    assert_eq!(count(&s, "t2").await.0, 429);
    for _ in 0..10 {
        assert_eq!(count(&s, "public").await.0, 200);
    }
    // An unknown tenant is not counted (the route answers it as before).
    assert_ne!(count(&s, "nope").await.0, 429);
    s.clock.advance_ms(1_000);
    assert_eq!(count(&s, "t1").await.0, 200);
    s.stop().await;
}

async fn app_limit_over_all_tenants(b: Backend) {
    let Some(s) = TestServer::spawn(b, limited(4, 0, 1)).await else { return };
    let r = s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    assert_eq!(r["status"], "OK", "{r}");
    s.clock.advance_ms(1_000);
    for t in ["t1", "public", "t1", "public"] {
        assert_eq!(count(&s, t).await.0, 200);
    }
    assert_eq!(count(&s, "t1").await.0, 429);
    let (st, _, text) = count(&s, "public").await;
    assert_eq!(st, 429);
    assert!(text.contains("the rate limit of app public (4 requests per 1 s)"), "{text}");
    // Another app has its own count.
    s.clock.advance_ms(1_000);
    let r = s.put("/recipe/multitenancy/app/v2", json!({"appId": "a2"})).await;
    assert_eq!(r["status"], "OK", "{r}");
    for _ in 0..4 {
        assert_eq!(count(&s, "appid-a2/public").await.0, 200);
    }
    assert_eq!(count(&s, "public").await.0, 200);
    s.stop().await;
}

async fn off_by_default(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for _ in 0..100 {
        assert_eq!(count(&s, "public").await.0, 200);
    }
    s.stop().await;
}

async fn keys_are_checked(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for bad in [
        json!({"rate_limit_window_seconds": 0}),
        json!({"rate_limit_window_seconds": 86_401}),
        json!({"rate_limit_tenant_requests": -1}),
    ] {
        let (st, text) = s
            .status_and_text(
                "PUT",
                "/recipe/multitenancy/tenant/v2",
                Some(json!({"tenantId": "t2", "coreConfig": bad})),
            )
            .await;
        assert!(st == 400 || text.contains("INVALID"), "{bad}: {st} {text}");
    }
    // The app-level keys may be set per app.
    let r = s
        .put("/recipe/multitenancy/app/v2", json!({"appId": "a3", "coreConfig": {"rate_limit_app_requests": 1}}))
        .await;
    assert_eq!(r["status"], "OK", "{r}");
    assert_eq!(count(&s, "appid-a3/public").await.0, 200);
    assert_eq!(count(&s, "appid-a3/public").await.0, 429);
    assert_eq!(count(&s, "public").await.0, 200);
    s.stop().await;
}

/// Two instances on one database share the count (PostgreSQL): with a limit under 20 every
/// request is added to the shared counter before it is answered, so the limit is exact.
async fn shared_by_two_instances(b: Backend) {
    if b != Backend::Postgres {
        return;
    }
    let Some(a) = TestServer::spawn(b, limited(4, 0, 1)).await else { return };
    let c = TestServer::spawn_on(b, limited(4, 0, 1), a.db_url.clone()).await.unwrap();
    for s in [&a, &c, &a, &c] {
        assert_eq!(count(s, "public").await.0, 200);
    }
    assert_eq!(count(&a, "public").await.0, 429);
    assert_eq!(count(&c, "public").await.0, 429);
    a.clock.advance_ms(1_000);
    c.clock.advance_ms(1_000);
    for s in [&c, &c, &c, &a] {
        assert_eq!(count(s, "public").await.0, 200);
    }
    assert_eq!(count(&a, "public").await.0, 429);
    c.stop().await;
    a.stop().await;
}

/// From a limit of 40 up no request waits for the shared counter (the flush runs beside it): two
/// instances on one database still share the count: the second one admits on what it knows
/// (nothing at first) and refuses once a flush of its own has read the total back.
async fn shared_in_the_background(b: Backend) {
    if b != Backend::Postgres {
        return;
    }
    let Some(a) = TestServer::spawn(b, limited(60, 0, 10)).await else { return };
    let c = TestServer::spawn_on(b, limited(60, 0, 10), a.db_url.clone()).await.unwrap();
    for i in 0..60 {
        assert_eq!(count(&a, "public").await.0, 200, "request {i}");
    }
    // The refusal flushes what the first instance still held (beside the request). The second
    // instance knows nothing yet: it admits on its local count until one of its own flushes has
    // read the shared total back, then refuses. Flushes take a database round trip, so poll
    // (a loaded machine makes them slow) rather than sleep a fixed time; alone, the second
    // instance would admit a whole window (60).
    let mut admitted = 0;
    let mut refused = false;
    for _ in 0..200 {
        match count(&c, "public").await.0 {
            200 => admitted += 1,
            429 => {
                refused = true;
                break;
            }
            other => panic!("status {other}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(refused, "the second instance never saw the first one's count");
    assert!(admitted < 60, "the second instance admitted {admitted}: the count was not shared");
    c.stop().await;
    a.stop().await;
}

st_tests::both_backends! {
    shared_in_the_background => shared_in_the_background;
    limit_then_next_window => limit_then_next_window;
    tenants_apart => tenants_apart;
    app_limit_over_all_tenants => app_limit_over_all_tenants;
    off_by_default => off_by_default;
    keys_are_checked => keys_are_checked;
    shared_by_two_instances => shared_by_two_instances;
}
