//! Users across recipes over HTTP (§a.2): lookups by id and by account info, listing and
//! searching, counting, active users, deletion, and a linked group as a Java core with account
//! linking leaves it.

use crate::helpers::*;
use serde_json::{json, Value};

/// A user is found by id (`/user/id`) and by account info (`/users/by-accountinfo`), whose
/// input rules are the reference's.
async fn lookups_by_id_and_account_info(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let r = sign_up(&s, "  Alice@Example.COM ", "pw-1").await;
    let id = r["user"]["id"].as_str().unwrap().to_string();
    let got = s.get(&format!("/user/id?userId={id}")).await;
    assert_eq!(got["user"]["id"], id.as_str());
    assert_eq!(s.get("/user/id?userId=nope").await["status"], "UNKNOWN_USER_ID_ERROR");
    let by = s.get("/public/users/by-accountinfo?email=Alice%40example.com&doUnionOfAccountInfo=true").await;
    assert_eq!(by["users"].as_array().unwrap().len(), 1);
    let by = s.get("/public/users/by-accountinfo?email=zz%40example.com&doUnionOfAccountInfo=false").await;
    assert_eq!(by["users"], json!([]));
    // No user has a WebAuthn credential here: an AND match that needs one finds nobody.
    let q = "/public/users/by-accountinfo?email=Alice%40example.com&webauthnCredentialId=c";
    assert_eq!(s.get(&format!("{q}&doUnionOfAccountInfo=false")).await["users"], json!([]));
    assert_eq!(s.get(&format!("{q}&doUnionOfAccountInfo=true")).await["users"].as_array().unwrap().len(), 1);
    // A NUL in an e-mail or credential id matches nobody (PostgreSQL cannot compare it: no 500).
    for q in [
        "/public/users/by-accountinfo?email=a%00b&doUnionOfAccountInfo=true",
        "/public/users/by-accountinfo?webauthnCredentialId=a%00b&doUnionOfAccountInfo=true",
        "/public/users/by-accountinfo?email=Alice%40example.com&webauthnCredentialId=c%00&doUnionOfAccountInfo=false",
    ] {
        assert_eq!(s.get(q).await["users"], json!([]), "{q}");
    }
    let by_status = |q: &'static str| {
        let s = &s;
        async move {
            let (st, text) = s.request("GET", q, None, &[("cdi-version", "5.4")]).await;
            (st, text.trim_end().to_string())
        }
    };
    assert_eq!(
        by_status("/public/users/by-accountinfo?email=a%40b.c&doUnionOfAccountInfo=TRUE").await,
        (400, "'doUnionOfAccountInfo' should be either 'true' or 'false'".to_string())
    );
    assert_eq!(
        by_status("/public/users/by-accountinfo?email=a%40b.c").await,
        (400, "Field name 'doUnionOfAccountInfo' is missing in GET request".to_string())
    );
    assert_eq!(
        by_status("/public/users/by-accountinfo?thirdPartyId=g&doUnionOfAccountInfo=true").await,
        (400, "If 'thirdPartyId' is provided, 'thirdPartyUserId' must also be provided, and vice versa".to_string())
    );
    s.stop().await;
}

async fn listing_counting_and_deletion(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let mut ids = Vec::new();
    for i in 0..7 {
        s.clock.advance_ms(10);
        ids.push(sign_up(&s, &format!("user{i}@example.com"), "pw").await["user"]["id"].as_str().unwrap().to_string());
    }
    let page = s.get("/public/users?limit=3").await;
    let got: Vec<&str> = page["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids[..3].iter().map(String::as_str).collect::<Vec<_>>());
    let token = page["nextPaginationToken"].as_str().unwrap().to_string();
    let page2 = s.get(&format!("/public/users?limit=3&paginationToken={token}")).await;
    assert_eq!(page2["users"][0]["id"], ids[3].as_str());
    // The token names the next page's first user (`<id>;<time joined>`, base64), as the
    // reference's does, so a token minted by a Java core continues the same way here.
    use base64::Engine;
    let joined = page2["users"][0]["timeJoined"].as_i64().unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{};{joined}", ids[3]));
    assert_eq!(token, expected);
    let desc = s.get("/public/users?limit=2&timeJoinedOrder=DESC").await;
    assert_eq!(desc["users"][0]["id"], ids[6].as_str());
    let token = desc["nextPaginationToken"].as_str().unwrap().to_string();
    let desc2 = s.get(&format!("/public/users?limit=2&timeJoinedOrder=DESC&paginationToken={token}")).await;
    let got: Vec<&str> = desc2["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(got, vec![ids[4].as_str(), ids[3].as_str()]);
    let search = s.get("/public/users?email=user3").await;
    assert_eq!(search["users"].as_array().unwrap().len(), 1);
    // A tag matches the start of the address or of its domain part; LIKE wildcards in a tag
    // match themselves.
    let found = |v: &serde_json::Value| v["users"].as_array().unwrap().len();
    assert_eq!(found(&s.get("/public/users?email=example").await), 7, "domain part");
    assert_eq!(found(&s.get("/public/users?email=xample").await), 0, "not any substring");
    assert_eq!(found(&s.get("/public/users?email=user_").await), 0, "`_` is literal");
    assert_eq!(found(&s.get("/public/users?email=%25").await), 0, "`%` is literal");
    assert_eq!(found(&s.get("/public/users?email=nobody;user5").await), 1, "tags are alternatives");
    let (st, body) = s.request("GET", "/public/users?paginationToken=%%%", None, &[("cdi-version", "5.4")]).await;
    assert_eq!((st, body.as_str()), (400, "invalid pagination token\n"));
    assert_eq!(s.get("/public/users/count").await["count"], 7);
    assert_eq!(s.get("/users/count?includeAllTenants=true").await["count"], 7);
    // Sessions count as activity (sign-ups did too, before the clock moved on).
    s.clock.advance_ms(st_core::activity::THROTTLE_MS);
    let since = START_MS + st_core::activity::THROTTLE_MS;
    assert_eq!(s.get(&format!("/users/count/active?since={since}")).await["count"], 0);
    s.post(
        "/public/recipe/session",
        json!({"userId": ids[0], "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}}),
    )
    .await;
    assert_eq!(s.get(&format!("/users/count/active?since={since}")).await["count"], 1);
    // Deleting a user removes every trace.
    s.put("/recipe/user/metadata", json!({"userId": ids[0], "metadataUpdate": {"a": 1}})).await;
    assert_eq!(s.post("/user/remove", json!({"userId": ids[0]})).await["status"], "OK");
    assert_eq!(s.get(&format!("/user/id?userId={}", ids[0])).await["status"], "UNKNOWN_USER_ID_ERROR");
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={}", ids[0])).await["metadata"], json!({}));
    assert_eq!(s.get(&format!("/recipe/session/user?userId={}", ids[0])).await["sessionHandles"], json!([]));
    assert_eq!(s.get("/public/users/count").await["count"], 6);
    assert_eq!(
        s.post("/public/recipe/signin", json!({"email": "user0@example.com", "password": "pw"})).await["status"],
        "WRONG_CREDENTIALS_ERROR"
    );
    assert_eq!(s.post("/user/remove", json!({"userId": "unknown"})).await["status"], "OK");
    s.stop().await;
}

/// Input rules of the listing and counting endpoints (§a.2), and searches.
async fn listing_input_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    // Listing: unknown recipe ids, limits, `since`.
    assert_eq!(
        s.status_and_text("GET", "/public/users?includeRecipeIds=emailpassword,foo", None).await,
        (400, "Unknown recipe ID: foo".to_string())
    );
    assert_eq!(
        s.status_and_text("GET", "/public/users/count?includeRecipeIds=bar", None).await,
        (400, "Unknown recipe ID: bar".to_string())
    );
    assert_eq!(s.get("/public/users?includeRecipeIds=thirdparty").await["users"], json!([]));
    assert_eq!(
        s.status_and_text("GET", "/public/users?limit=501", None).await,
        (400, "max limit allowed is 500".to_string())
    );
    assert_eq!(
        s.status_and_text("GET", "/public/users?limit=0", None).await,
        (400, "limit must a positive integer with min value 1".to_string())
    );
    assert_eq!(
        s.status_and_text("GET", "/users/count/active?since=-1", None).await,
        (400, "'since' query parameter must be >= 0".to_string())
    );
    // Numbers as Java parses them: `since` is a long, `limit` an int, neither with blanks.
    assert_eq!(
        s.status_and_text("GET", "/users/count/active?since=abc", None).await,
        (400, "Field name 'since' must be a long in the GET request".to_string())
    );
    for bad in ["%205", "3000000000"] {
        assert_eq!(
            s.status_and_text("GET", &format!("/public/users?limit={bad}"), None).await,
            (400, "Field name 'limit' must be an int in the GET request".to_string())
        );
    }
    // Recipe ids in any case, as the reference's enum lookup.
    assert_eq!(s.get("/public/users?includeRecipeIds=EmailPassword").await["status"], "OK");
    assert_eq!(s.get("/public/users/count?includeRecipeIds=ThirdParty").await["count"], 0);
    // A search returns every match up to 1000 whatever `limit` says, and no pagination token.
    for i in 0..3 {
        s.clock.advance_ms(10);
        sign_up(&s, &format!("s{i}@example.com"), "pw").await;
    }
    assert_eq!(s.get("/public/users?email=s0&includeRecipeIds=thirdparty").await["users"].as_array().unwrap().len(), 1);
    let found = s.get("/public/users?email=s&limit=2").await;
    assert_eq!(found["users"].as_array().unwrap().len(), 3);
    assert!(found.get("nextPaginationToken").is_none());
    let desc = s.get("/public/users?email=example.com&timeJoinedOrder=DESC&limit=600").await;
    let emails: Vec<&str> =
        desc["users"].as_array().unwrap().iter().map(|u| u["emails"][0].as_str().unwrap()).collect();
    assert_eq!(emails, ["s2@example.com", "s1@example.com", "s0@example.com"]);
    // Tag kinds combine with AND: an emailpassword user has no phone number and no provider.
    assert_eq!(s.get("/public/users?email=s0&phone=%2B1").await["users"], json!([]));
    assert_eq!(s.get("/public/users?email=s0&provider=google").await["users"], json!([]));
    s.stop().await;
}

/// A search reads at most 1000 matching login methods of each recipe (the reference's per-recipe
/// `LIMIT 1000`, whichever its scan finds first) and returns their users in order, without a
/// pagination token, whatever `limit` says.
async fn search_limit_per_recipe(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    for i in 0..1003 {
        s.clock.advance_ms(1);
        assert_eq!(sign_up(&s, &format!("bulk{i}@example.com"), "pw").await["status"], "OK");
    }
    s.clock.advance_ms(1);
    sign_up(&s, "other@bulk.org", "pw").await;
    for (order, ascending) in [("ASC", true), ("DESC", false)] {
        let r = s.get(&format!("/public/users?email=bulk&limit=5&timeJoinedOrder={order}")).await;
        assert_eq!(r["status"], "OK");
        assert!(r.get("nextPaginationToken").is_none(), "a search has no token");
        let users = r["users"].as_array().unwrap();
        assert_eq!(users.len(), 1000, "{order}: 1000 of the 1004 matches");
        let joined: Vec<i64> = users.iter().map(|u| u["timeJoined"].as_i64().unwrap()).collect();
        let mut sorted = joined.clone();
        sorted.sort_unstable();
        if !ascending {
            sorted.reverse();
        }
        assert_eq!(joined, sorted, "{order}: in order");
        let mut distinct = joined.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 1000, "no user twice");
        for u in users {
            let email = u["emails"][0].as_str().unwrap();
            assert!(email.starts_with("bulk") || email.contains("@bulk"), "{email} matches");
        }
    }
    // Fewer matches than the limit: all of them.
    assert_eq!(
        s.get("/public/users?email=bulk100").await["users"].as_array().unwrap().len(),
        4,
        "bulk100, bulk1000-1002"
    );
    s.stop().await;
}

/// Sign-up and sign-in record the user as active, as in the reference, throttled per user
/// for five minutes (`st_core::activity`); a failed sign-in does not.
async fn sign_in_and_up_record_activity(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let window = st_core::activity::THROTTLE_MS;
    let active_since = |t: i64| {
        let s = &s;
        async move { s.get(&format!("/users/count/active?since={t}")).await["count"].clone() }
    };
    sign_up(&s, "act@example.com", "pw").await;
    assert_eq!(active_since(START_MS).await, 1, "sign-up");
    // (And, as the reference, an SDK placeholder address is verified from the sign-up on.)
    for (email, verified) in
        [("u1@stfakeemail.supertokens.com", true), ("u2@x.fakeemail.com", true), ("u3@fakeemail.com.au", false)]
    {
        let user = sign_up(&s, email, "pw").await;
        assert_eq!(user["user"]["loginMethods"][0]["verified"], verified, "{email}: {user}");
        let id = user["user"]["id"].as_str().unwrap();
        let v = s.get(&format!("/recipe/user/email/verify?userId={id}&email={email}")).await;
        assert_eq!(v["isVerified"], verified, "{email}: {v}");
    }
    assert_eq!(active_since(START_MS).await, 4);
    s.clock.advance_ms(window);
    let t1 = START_MS + window;
    let signin = |pw: &'static str| {
        let s = &s;
        async move { s.post("/public/recipe/signin", json!({"email": "act@example.com", "password": pw})).await }
    };
    assert_eq!(signin("wrong").await["status"], "WRONG_CREDENTIALS_ERROR");
    assert_eq!(active_since(t1).await, 0, "a failed sign-in is not activity");
    assert_eq!(signin("pw").await["status"], "OK");
    assert_eq!(active_since(t1).await, 1, "sign-in");
    s.clock.advance_ms(60_000);
    assert_eq!(signin("pw").await["status"], "OK");
    assert_eq!(active_since(t1 + 1).await, 0, "within the window: not written again");
    s.clock.advance_ms(window);
    assert_eq!(signin("pw").await["status"], "OK");
    assert_eq!(active_since(t1 + 60_000 + window).await, 1, "after the window");
    s.stop().await;
}

/// The user object by CDI version: the `webauthn` field exists from 5.3 on, in every response
/// that carries users (the reference's `toJson(includeWebauthn = version >= 5.3)`).
async fn user_object_by_cdi_version(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let at = |v: &'static str, method: &'static str, path: String, body: Option<Value>| {
        let s = &s;
        async move {
            let (st, text) = s.request(method, &path, body, &[("cdi-version", v)]).await;
            assert_eq!(st, 200, "{v} {path}: {text}");
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let mut id = String::new();
    for (i, v) in ["5.0", "5.1", "5.2", "5.3", "5.4", "5.5"].into_iter().enumerate() {
        let body = json!({"email": format!("v{i}@example.com"), "password": "pw-1"});
        let signed_up = at(v, "POST", "/public/recipe/signup".into(), Some(body.clone())).await;
        let signed_in = at(v, "POST", "/public/recipe/signin".into(), Some(body)).await;
        id = signed_up["user"]["id"].as_str().unwrap().to_string();
        let by_id = at(v, "GET", format!("/user/id?userId={id}"), None).await;
        let by_info = at(
            v,
            "GET",
            format!("/public/users/by-accountinfo?email=v{i}%40example.com&doUnionOfAccountInfo=true"),
            None,
        )
        .await;
        let page = at(v, "GET", "/public/users?limit=1".into(), None).await;
        let recipe_user = at(v, "GET", format!("/recipe/user?userId={id}"), None).await;
        let users = [
            &signed_up["user"],
            &signed_in["user"],
            &by_id["user"],
            &by_info["users"][0],
            &page["users"][0],
            &recipe_user["user"],
        ];
        for user in users {
            assert!(user["loginMethods"].is_array(), "{v}: {user}");
            if ["5.0", "5.1", "5.2"].contains(&v) {
                assert!(user.get("webauthn").is_none(), "{v}: {user}");
            } else {
                assert_eq!(user["webauthn"], json!({"credentialIds": []}), "{v}: {user}");
            }
        }
    }
    assert!(!id.is_empty());
    s.stop().await;
}

/// A request at CDI `v` that must answer 200; its body text (to compare field order) and JSON.
async fn text_at(s: &TestServer, v: &str, path: &str) -> (String, Value) {
    let (st, text) = s.request("GET", path, None, &[("cdi-version", v)]).await;
    assert_eq!(st, 200, "{v} {path}: {text}");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (text, json)
}

/// Before CDI 4.0 each `GET /users` element is `{"recipeId", "user"}` with the user without
/// account linking (without `tenantIds` before 3.0), searches too; `GET /user/id` and
/// `GET /users/by-accountinfo` keep the 4.0 shape at every version.
async fn users_before_4_0(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let a = sign_up(&s, "a@example.com", "pw").await["user"].clone();
    s.clock.advance_ms(10);
    let b_user = sign_up(&s, "b@example.com", "pw").await["user"].clone();
    let b_id = b_user["id"].as_str().unwrap().to_string();
    s.post("/recipe/userid/map", json!({"superTokensUserId": b_id, "externalUserId": "ext-b"})).await;
    let old = |u: &Value, id: &str, tenants: bool| {
        let mut user =
            json!({"id": id, "timeJoined": u["timeJoined"], "tenantIds": ["public"], "email": u["emails"][0]});
        if !tenants {
            user.as_object_mut().unwrap().remove("tenantIds");
        }
        json!({"recipeId": "emailpassword", "user": user})
    };
    let a_id = a["id"].as_str().unwrap();
    // The 4.0 shape without the `webauthn` field (before 5.3).
    let mut a4 = a.clone();
    a4.as_object_mut().unwrap().remove("webauthn");
    for v in ["2.7", "2.12", "2.21", "3.0", "3.1"] {
        let tenants = !v.starts_with('2');
        let (text, page) = text_at(&s, v, "/public/users?limit=1").await;
        let token = page["nextPaginationToken"].as_str().unwrap();
        let expected = json!({"status": "OK", "users": [old(&a, a_id, tenants)], "nextPaginationToken": token});
        // Exactly these fields, in the reference's order.
        assert_eq!(text, expected.to_string(), "{v}");
        let (_, page) = text_at(&s, v, &format!("/public/users?paginationToken={token}")).await;
        assert_eq!(page["users"], json!([old(&b_user, "ext-b", tenants)]), "{v}: the external id");
        let (_, found) = text_at(&s, v, "/public/users?email=b%40").await;
        assert_eq!(found["users"], json!([old(&b_user, "ext-b", tenants)]), "{v}: a search");
        let (_, by_id) = text_at(&s, v, &format!("/user/id?userId={a_id}")).await;
        assert_eq!(by_id["user"], a4, "{v}: /user/id in the 4.0 shape");
        let (_, by_info) =
            text_at(&s, v, "/public/users/by-accountinfo?email=a%40example.com&doUnionOfAccountInfo=true").await;
        assert_eq!(by_info["users"], json!([a4]), "{v}: by-accountinfo in the 4.0 shape");
    }
    let (_, page) = text_at(&s, "4.0", "/public/users").await;
    assert_eq!(page["users"][0], a4, "4.0: not wrapped");
    s.stop().await;
}

/// CDI 5.6 `allowApproximate`: a tenant's count may be a recent one, with `approximate` and
/// `asOf`; app-wide or recipe-filtered counts are exact (`approximate: false`); before 5.6 the
/// parameter is ignored.
async fn approximate_user_count_5_6(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let count = |v: &'static str, query: &'static str| {
        let s = &s;
        async move {
            let (st, text) = s.request("GET", &format!("/users/count{query}"), None, &[("cdi-version", v)]).await;
            assert_eq!(st, 200, "{text}");
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    sign_up(&s, "a@x.com", "pw-123456").await;
    let first = count("5.6", "?allowApproximate=TRUE").await;
    assert_eq!(first, json!({"status": "OK", "count": 1, "approximate": true, "asOf": START_MS}));
    s.clock.advance_ms(10_000);
    sign_up(&s, "b@x.com", "pw-123456").await;
    assert_eq!(count("5.6", "?allowApproximate=true").await, first, "a recent count, as of then");
    assert_eq!(count("5.6", "").await, json!({"status": "OK", "count": 2}), "exact without the parameter");
    assert_eq!(count("5.5", "?allowApproximate=true").await, json!({"status": "OK", "count": 2}), "not before 5.6");
    assert_eq!(
        count("5.6", "?allowApproximate=true&includeAllTenants=true").await,
        json!({"status": "OK", "count": 2, "approximate": false, "asOf": START_MS + 10_000})
    );
    assert_eq!(
        count("5.6", "?allowApproximate=true&includeRecipeIds=emailpassword").await,
        json!({"status": "OK", "count": 2, "approximate": false, "asOf": START_MS + 10_000})
    );
    s.clock.advance_ms(st_core::users::APPROXIMATE_COUNT_MAX_AGE_MS);
    assert_eq!(
        count("5.6", "?allowApproximate=true").await,
        json!({"status": "OK", "count": 2, "approximate": true, "asOf": START_MS + 10_000 + st_core::users::APPROXIMATE_COUNT_MAX_AGE_MS}),
        "counted again once older than the maximum age"
    );
    s.stop().await;
}

st_tests::both_backends! {
    approximate_user_count_5_6 => approximate_user_count_5_6;
    user_object_by_cdi_version => user_object_by_cdi_version;
    users_before_4_0 => users_before_4_0;
    lookups_by_id_and_account_info => lookups_by_id_and_account_info;
    listing_counting_and_deletion => listing_counting_and_deletion;
    listing_input_rules => listing_input_rules;
    search_limit_per_recipe => search_limit_per_recipe;
    sign_in_and_up_record_activity => sign_in_and_up_record_activity;
}

/// Make `primary` a primary user with `linked` linked to it, as a Java core with account linking
/// leaves them (the rows it writes, without this server's linking API).
async fn link_on_postgres(s: &TestServer, primary: &str, linked: &[&str]) {
    let ids: Vec<String> = std::iter::once(primary).chain(linked.iter().copied()).map(|i| format!("'{i}'")).collect();
    let ids = ids.join(", ");
    let url = s.db_url.clone().unwrap();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "UPDATE app_id_to_user_id SET primary_or_recipe_user_id = '{primary}', is_linked_or_is_a_primary_user = TRUE
               WHERE user_id IN ({ids});
             UPDATE all_auth_recipe_users SET primary_or_recipe_user_id = '{primary}', is_linked_or_is_a_primary_user = TRUE
               WHERE user_id IN ({ids});"
        ))
        .await
        .expect("link");
    drop(client);
    let _ = task.await;
}

/// A linked group as a Java core with account linking leaves it (made here with SQL, as a Java
/// core writes it). PostgreSQL only; linking through the API is `accountlinking::*`.
#[tokio::test]
async fn linked_group_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, cheap_hashing()).await else { return };
    let id_of = |v: &Value| v["user"]["id"].as_str().unwrap().to_string();
    let p = id_of(&sign_up(&s, "pat@example.com", "pw-p").await);
    s.clock.advance_ms(1);
    let m = id_of(&sign_up(&s, "max@example.com", "pw-m").await);
    s.clock.advance_ms(1);
    let z = id_of(&sign_up(&s, "zoe@example.com", "pw-z").await);
    s.clock.advance_ms(1);
    let a = id_of(&sign_up(&s, "amy@example.com", "pw-a").await);
    link_on_postgres(&s, &p, &[&m]).await;
    link_on_postgres(&s, &z, &[]).await;
    let user = s.get(&format!("/user/id?userId={m}")).await;
    assert_eq!((user["user"]["id"].as_str(), user["user"]["isPrimaryUser"].as_bool()), (Some(p.as_str()), Some(true)));
    assert_eq!(user["user"]["loginMethods"].as_array().unwrap().len(), 2);

    // As the reference: a primary user's e-mail may not become another primary user's (zoe
    // is a primary user on her own); a user that is not primary gets the duplicate error.
    let change = s.put("/recipe/user", json!({"recipeUserId": m, "email": "Zoe@example.com"})).await;
    assert_eq!(
        change,
        json!({"status": "EMAIL_CHANGE_NOT_ALLOWED_ERROR", "reason": "New email is associated with another primary user ID"})
    );
    let change = s.put("/recipe/user", json!({"recipeUserId": a, "email": "zoe@example.com"})).await;
    assert_eq!(change["status"], "EMAIL_ALREADY_EXISTS_ERROR");
    let change = s.put("/recipe/user", json!({"recipeUserId": m, "email": "max2@example.com"})).await;
    assert_eq!(change["status"], "OK", "an e-mail no other primary user has");
    let change = s.put("/recipe/user", json!({"recipeUserId": m, "email": "max@example.com"})).await;
    assert_eq!(change["status"], "OK", "{change}");
    // The deprecated GET /recipe/user by id: that id's own e-mail-password method only, as a
    // user of its own with the group's primary flag; by e-mail: the whole group.
    let own = s.get(&format!("/recipe/user?userId={m}")).await;
    assert_eq!((own["user"]["id"].as_str(), own["user"]["isPrimaryUser"].as_bool()), (Some(m.as_str()), Some(true)));
    let methods = own["user"]["loginMethods"].as_array().unwrap();
    assert_eq!((methods.len(), methods[0]["email"].as_str()), (1, Some("max@example.com")));
    let by_email = s.get("/public/recipe/user?email=max@example.com").await;
    assert_eq!(by_email["user"]["id"].as_str(), Some(p.as_str()));
    assert_eq!(by_email["user"]["loginMethods"].as_array().unwrap().len(), 2);

    // A reset token is for the given user (the primary), as the reference.
    let t = s.post("/public/recipe/user/password/reset/token", json!({"userId": p, "email": "max@example.com"})).await;
    let c = s.post("/public/recipe/user/password/reset/token/consume", json!({"token": t["token"]})).await;
    assert_eq!((c["status"].as_str(), c["userId"].as_str()), (Some("OK"), Some(p.as_str())));
    s.put("/recipe/user/metadata", json!({"userId": p, "metadataUpdate": {"plan": "pro"}})).await;

    // Removing the primary's own login method keeps the user, its id and its metadata.
    let removed = s.post("/user/remove", json!({"userId": p, "removeAllLinkedAccounts": false})).await;
    assert_eq!(removed["status"], "OK");
    for id in [&p, &m] {
        let user = s.get(&format!("/user/id?userId={id}")).await;
        assert_eq!(user["user"]["id"].as_str(), Some(p.as_str()));
        let methods: Vec<&str> = user["user"]["loginMethods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["recipeUserId"].as_str().unwrap())
            .collect();
        assert_eq!(methods, vec![m.as_str()]);
    }
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={p}")).await["metadata"], json!({"plan": "pro"}));
    let signin = |email: &'static str, pw: &'static str| {
        s.post("/public/recipe/signin", json!({"email": email, "password": pw}))
    };
    assert_eq!(signin("pat@example.com", "pw-p").await["status"], "WRONG_CREDENTIALS_ERROR");
    let max = signin("max@example.com", "pw-m").await;
    assert_eq!((max["status"].as_str(), max["user"]["id"].as_str()), (Some("OK"), Some(p.as_str())));
    // PUT /recipe/user needs that id's own email-password method.
    let put = |id: &str| s.put("/recipe/user", json!({"recipeUserId": id, "password": "pw-new"}));
    assert_eq!(put(&p).await["status"], "UNKNOWN_USER_ID_ERROR");
    assert_eq!(put(&m).await["status"], "OK");

    // Removing its last login method removes the user with the primary's id and data.
    let removed = s.post("/user/remove", json!({"userId": m, "removeAllLinkedAccounts": false})).await;
    assert_eq!(removed["status"], "OK");
    for id in [&p, &m] {
        assert_eq!(s.get(&format!("/user/id?userId={id}")).await["status"], "UNKNOWN_USER_ID_ERROR");
    }
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={p}")).await["metadata"], json!({}));
    s.stop().await;
}

/// Before CDI 4.0 a linked group shows as its oldest login method (its id, not the primary's),
/// as the reference's `toJsonWithoutAccountLinking` (which deliberately does not refuse
/// groups), and a reset token for it is the reference's 400. PostgreSQL only (linked groups).
#[tokio::test]
async fn linked_group_before_4_0_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, cheap_hashing()).await else { return };
    let id_of = |v: &Value| v["user"]["id"].as_str().unwrap().to_string();
    let old = id_of(&sign_up(&s, "first@example.com", "pw-1").await);
    s.clock.advance_ms(5);
    let primary = id_of(&sign_up(&s, "second@example.com", "pw-2").await);
    // The primary is the younger method: the older one is shown before 4.0.
    link_on_postgres(&s, &primary, &[&old]).await;
    let at = |v: &'static str, method: &'static str, path: String, body: Option<Value>| {
        let s = &s;
        async move {
            let (st, text) = s.request(method, &path, body, &[("cdi-version", v)]).await;
            (st, text.trim_end().to_string())
        }
    };
    let json = |r: (u16, String)| {
        assert_eq!(r.0, 200, "{}", r.1);
        serde_json::from_str::<Value>(&r.1).unwrap()
    };
    let signin = json!({"email": "second@example.com", "password": "pw-2"});
    let r = json(at("3.0", "POST", "/public/recipe/signin".into(), Some(signin.clone())).await);
    assert_eq!(
        (r["user"]["id"].as_str(), r["user"]["email"].as_str()),
        (Some(old.as_str()), Some("first@example.com"))
    );
    assert!(r.get("recipeUserId").is_none(), "{r}");
    let r = json(at("4.0", "POST", "/public/recipe/signin".into(), Some(signin)).await);
    assert_eq!(
        (r["user"]["id"].as_str(), r["recipeUserId"].as_str()),
        (Some(primary.as_str()), Some(primary.as_str()))
    );
    let page = json(at("3.0", "GET", "/public/users".into(), None).await);
    assert_eq!(page["users"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["users"][0]["recipeId"], "emailpassword");
    assert_eq!(page["users"][0]["user"]["id"], old.as_str());
    let by_email = json(at("2.21", "GET", "/public/recipe/user?email=second%40example.com".into(), None).await);
    assert_eq!(by_email["user"]["id"], old.as_str(), "the group's first method");
    assert!(by_email["user"].get("tenantIds").is_none());
    // A reset token needs a user of one login method before 4.0.
    for id in [&old, &primary] {
        let body = json!({"userId": id});
        assert_eq!(
            at("3.0", "POST", "/public/recipe/user/password/reset/token".into(), Some(body)).await,
            (400, "Please use CDI version >= 4.0".to_string())
        );
    }
    let body = json!({"userId": primary, "email": "second@example.com"});
    let t = json(at("4.0", "POST", "/public/recipe/user/password/reset/token".into(), Some(body)).await);
    assert_eq!(t["status"], "OK");
    s.stop().await;
}
