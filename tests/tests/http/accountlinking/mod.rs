//! Account linking over HTTP (§a.15, §g.2): the primary-user check and creation, the link
//! check and link, unlink (the primary's own method removed rather than left naming two
//! users), sessions of a relinked login method revoked, the group's time joined, conflicts of
//! e-mail, phone number and provider pair with another primary user sharing a tenant, linked
//! users wherever a user is returned (by any id, lists, by account info, every recipe's sign-in
//! and sign-up), removal of one login method or the whole group, verification and metadata
//! not merged, user-id mappings, the version branches, and concurrent linking (on PostgreSQL
//! through two server processes on one database).

use crate::helpers::*;
use serde_json::{json, Value};

mod concurrency;

const DESC_EMAIL: &str = "This user's email is already associated with another user ID";
const DESC_PHONE: &str = "This user's phone number is already associated with another user ID";
const DESC_TP: &str = "This user's third party login is already associated with another user ID";

fn id_of(r: &Value) -> String {
    r["user"]["id"].as_str().unwrap_or_else(|| panic!("no user id in {r}")).to_string()
}

/// The recipe user ids of a user object's login methods, in order.
fn methods(user: &Value) -> Vec<String> {
    user["loginMethods"].as_array().unwrap().iter().map(|m| m["recipeUserId"].as_str().unwrap().to_string()).collect()
}

async fn tp_up(s: &TestServer, tenant: &str, provider: &str, user: &str, email: &str) -> Value {
    let body = json!({"thirdPartyId": provider, "thirdPartyUserId": user, "email": {"id": email, "isVerified": false}});
    let r = s.post(&format!("/{tenant}/recipe/signinup"), body).await;
    assert_eq!(r["status"], "OK", "{r}");
    r
}

async fn ep_up(s: &TestServer, tenant: &str, email: &str) -> Value {
    let r = s.post(&format!("/{tenant}/recipe/signup"), json!({"email": email, "password": "pw-secret"})).await;
    assert_eq!(r["status"], "OK", "{r}");
    r
}

/// A passwordless sign-in-up by `contact` (`{"email":…}` or `{"phoneNumber":…}`).
async fn pl_up(s: &TestServer, tenant: &str, contact: Value) -> Value {
    let code = s.post(&format!("/{tenant}/recipe/signinup/code"), contact).await;
    assert_eq!(code["status"], "OK", "{code}");
    let body = json!({"preAuthSessionId": code["preAuthSessionId"], "linkCode": code["linkCode"]});
    let r = s.post(&format!("/{tenant}/recipe/signinup/code/consume"), body).await;
    assert_eq!(r["status"], "OK", "{r}");
    r
}

async fn tenant(s: &TestServer, t: &str) {
    let r = s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": t})).await;
    assert_eq!(r["status"], "OK", "{r}");
}

async fn check_primary(s: &TestServer, id: &str) -> Value {
    s.get(&format!("/recipe/accountlinking/user/primary/check?recipeUserId={id}")).await
}

async fn make_primary(s: &TestServer, id: &str) -> Value {
    s.post("/recipe/accountlinking/user/primary", json!({"recipeUserId": id})).await
}

async fn check_link(s: &TestServer, recipe: &str, primary: &str) -> Value {
    s.get(&format!("/recipe/accountlinking/user/link/check?recipeUserId={recipe}&primaryUserId={primary}")).await
}

async fn link(s: &TestServer, recipe: &str, primary: &str) -> Value {
    s.post("/recipe/accountlinking/user/link", json!({"recipeUserId": recipe, "primaryUserId": primary})).await
}

async fn unlink(s: &TestServer, recipe: &str) -> Value {
    s.post("/recipe/accountlinking/user/unlink", json!({"recipeUserId": recipe})).await
}

async fn user(s: &TestServer, id: &str) -> Value {
    let r = s.get(&format!("/user/id?userId={id}")).await;
    assert_eq!(r["status"], "OK", "{id}: {r}");
    r["user"].clone()
}

fn refusal(status: &str, primary: &str, description: &str) -> Value {
    json!({"status": status, "primaryUserId": primary, "description": description})
}

/// The primary-user check and creation: the user object, idempotence, a user linked to another
/// primary user, an unknown id (400), and an e-mail another primary user holds in a shared
/// tenant (not in another tenant).
async fn primary_users(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let a = id_of(&ep_up(&s, "public", "ann@example.com").await);
    assert_eq!(check_primary(&s, &a).await, json!({"status": "OK", "wasAlreadyAPrimaryUser": false}));
    let made = make_primary(&s, &a).await;
    assert_eq!((made["status"].as_str(), made["wasAlreadyAPrimaryUser"].as_bool()), (Some("OK"), Some(false)));
    let shown = user(&s, &a).await;
    assert_eq!(made["user"], shown);
    assert_eq!((shown["id"].as_str(), shown["isPrimaryUser"].as_bool()), (Some(a.as_str()), Some(true)));
    assert_eq!(shown["loginMethods"][0]["recipeUserId"].as_str(), Some(a.as_str()));
    assert_eq!(check_primary(&s, &a).await, json!({"status": "OK", "wasAlreadyAPrimaryUser": true}));
    let again = make_primary(&s, &a).await;
    assert_eq!((again["wasAlreadyAPrimaryUser"].as_bool(), &again["user"]), (Some(true), &shown));

    // Unknown users: the reference's 400.
    for (m, path, body) in [
        ("GET", "/recipe/accountlinking/user/primary/check?recipeUserId=nobody".to_string(), None),
        ("POST", "/recipe/accountlinking/user/primary".into(), Some(json!({"recipeUserId": "nobody"}))),
        ("GET", format!("/recipe/accountlinking/user/link/check?recipeUserId=nobody&primaryUserId={a}"), None),
        ("GET", format!("/recipe/accountlinking/user/link/check?recipeUserId={a}&primaryUserId=nobody"), None),
        ("POST", "/recipe/accountlinking/user/link".into(), Some(json!({"recipeUserId": a, "primaryUserId": ""}))),
        ("POST", "/recipe/accountlinking/user/unlink".into(), Some(json!({"recipeUserId": "nobody"}))),
    ] {
        assert_eq!(s.status_and_text(m, &path, body).await, (400, "Unknown user ID provided".into()), "{m} {path}");
    }
    // Missing fields.
    let (st, text) = s.status_and_text("POST", "/recipe/accountlinking/user/primary", Some(json!({}))).await;
    assert_eq!((st, text.as_str()), (400, "Field name 'recipeUserId' is invalid in JSON input"));
    let (st, _) = s.status_and_text("GET", "/recipe/accountlinking/user/primary/check", None).await;
    assert_eq!(st, 400);

    // A third-party and a passwordless user with her e-mail in the same tenant may not become
    // primary users; in another tenant they may.
    let t = id_of(&tp_up(&s, "public", "google", "g-ann", "ann@example.com").await);
    let p = id_of(&pl_up(&s, "public", json!({"email": "ann@example.com"})).await);
    let conflict = refusal("ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR", &a, DESC_EMAIL);
    for id in [&t, &p] {
        assert_eq!(check_primary(&s, id).await, conflict);
        assert_eq!(make_primary(&s, id).await, conflict);
        assert_eq!(user(&s, id).await["isPrimaryUser"], false);
    }
    tenant(&s, "t1").await;
    let other = id_of(&tp_up(&s, "t1", "google", "g-ann2", "ann@example.com").await);
    assert_eq!(make_primary(&s, &other).await["status"], "OK");
    // Neither may now join the other's tenant (the multitenancy rule for linked users).
    let joined = s.post("/public/recipe/multitenancy/tenant/user", json!({"recipeUserId": other})).await;
    assert_eq!(joined["status"], "ASSOCIATION_NOT_ALLOWED_ERROR", "{joined}");

    // Linked to another primary user.
    link(&s, &t, &a).await;
    assert_eq!(
        check_primary(&s, &t).await,
        refusal(
            "RECIPE_USER_ID_ALREADY_LINKED_WITH_PRIMARY_USER_ID_ERROR",
            &a,
            "This user ID is already linked to another user ID"
        )
    );
}

/// Linking and unlinking: the user object of the group (by any of its ids), the group's time
/// joined, idempotence, the refusals, sessions of the relinked method revoked (the primary's
/// kept), unlinking a linked method and the primary's own method.
async fn link_and_unlink(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    // The third-party user signs up first: the group's time joined is its.
    let t_up = tp_up(&s, "public", "google", "g-1", "bob@example.com").await;
    let t = id_of(&t_up);
    let t_joined = t_up["user"]["timeJoined"].as_i64().unwrap();
    s.clock.advance_ms(1000);
    let a = id_of(&ep_up(&s, "public", "bob@example.com").await);
    s.clock.advance_ms(1000);
    let p = id_of(&pl_up(&s, "public", json!({"phoneNumber": "+14155550100"})).await);

    // Not primary yet.
    assert_eq!(check_link(&s, &t, &a).await, json!({"status": "INPUT_USER_IS_NOT_A_PRIMARY_USER"}));
    assert_eq!(link(&s, &t, &a).await, json!({"status": "INPUT_USER_IS_NOT_A_PRIMARY_USER"}));
    make_primary(&s, &a).await;
    assert_eq!(check_link(&s, &t, &a).await, json!({"status": "OK", "accountsAlreadyLinked": false}));

    let session = |id: String| {
        let s = &s;
        async move {
            let body = json!({"userId": id, "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
            s.post("/public/recipe/session", body).await["session"]["handle"].as_str().unwrap().to_string()
        }
    };
    let (t_session, a_session) = (session(t.clone()).await, session(a.clone()).await);

    let linked = link(&s, &t, &a).await;
    assert_eq!((linked["status"].as_str(), linked["accountsAlreadyLinked"].as_bool()), (Some("OK"), Some(false)));
    let group = linked["user"].clone();
    assert_eq!((group["id"].as_str(), group["isPrimaryUser"].as_bool()), (Some(a.as_str()), Some(true)));
    assert_eq!(methods(&group), vec![t.clone(), a.clone()], "oldest login method first");
    assert_eq!(group["timeJoined"].as_i64(), Some(t_joined), "the group joined when its oldest method did");
    assert_eq!(group["emails"], json!(["bob@example.com"]));
    assert_eq!(group["thirdParty"], json!([{"id": "google", "userId": "g-1"}]));
    for id in [&a, &t] {
        assert_eq!(user(&s, id).await, group, "by {id}");
    }
    // The relinked method's sessions are revoked; the primary's are not.
    let info = |h: String| {
        let s = &s;
        async move { s.get(&format!("/public/recipe/session?sessionHandle={h}")).await["status"].clone() }
    };
    assert_eq!(info(t_session).await, "UNAUTHORISED");
    assert_eq!(info(a_session).await, "OK");
    // A session of the linked method now names the group.
    let body = json!({"userId": t, "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    let created = s.post("/public/recipe/session", body).await;
    assert_eq!(
        (created["session"]["userId"].as_str(), created["session"]["recipeUserId"].as_str()),
        (Some(a.as_str()), Some(t.as_str()))
    );

    // Again: already linked, by either id of the group as the "primary".
    assert_eq!(check_link(&s, &t, &a).await, json!({"status": "OK", "accountsAlreadyLinked": true}));
    let again = link(&s, &t, &t).await;
    assert_eq!((again["accountsAlreadyLinked"].as_bool(), &again["user"]), (Some(true), &group));
    assert_eq!(link(&s, &a, &a).await["accountsAlreadyLinked"], true);
    // A linked method is not a standalone user: linking it elsewhere is refused, with its user.
    make_primary(&s, &p).await;
    let elsewhere = link(&s, &t, &p).await;
    assert_eq!(elsewhere["status"], "RECIPE_USER_ID_ALREADY_LINKED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR");
    assert_eq!(
        (elsewhere["primaryUserId"].as_str(), elsewhere["description"].as_str(), &elsewhere["user"]),
        (Some(a.as_str()), Some("The input recipe user ID is already linked to another user ID"), &group)
    );
    let checked = check_link(&s, &a, &p).await;
    assert_eq!(
        checked,
        refusal(
            "RECIPE_USER_ID_ALREADY_LINKED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR",
            &a,
            "The input recipe user ID is already linked to another user ID"
        )
    );

    // Unlink the linked method: standalone again, its sessions revoked.
    let t_session = session(t.clone()).await;
    assert_eq!(unlink(&s, &t).await, json!({"status": "OK", "wasRecipeUserDeleted": false, "wasLinked": true}));
    assert_eq!(info(t_session).await, "UNAUTHORISED");
    let alone = user(&s, &t).await;
    assert_eq!((alone["id"].as_str(), alone["isPrimaryUser"].as_bool()), (Some(t.as_str()), Some(false)));
    assert_eq!(methods(&user(&s, &a).await), vec![a.clone()]);
    assert_ne!(user(&s, &a).await["timeJoined"].as_i64(), Some(t_joined));
    assert_eq!(unlink(&s, &t).await, json!({"status": "OK", "wasRecipeUserDeleted": false, "wasLinked": false}));
    // A primary user that is its group's only method becomes standalone.
    assert_eq!(unlink(&s, &p).await, json!({"status": "OK", "wasRecipeUserDeleted": false, "wasLinked": true}));
    assert_eq!(user(&s, &p).await["isPrimaryUser"], false);

    // Unlinking the primary's own method while another remains removes that method; its id
    // keeps naming the group, with its metadata.
    link(&s, &t, &a).await;
    s.put("/recipe/user/metadata", json!({"userId": a, "metadataUpdate": {"plan": "pro"}})).await;
    assert_eq!(unlink(&s, &a).await, json!({"status": "OK", "wasRecipeUserDeleted": true, "wasLinked": true}));
    for id in [&a, &t] {
        let g = user(&s, id).await;
        assert_eq!((g["id"].as_str(), methods(&g)), (Some(a.as_str()), vec![t.clone()]));
    }
    let signin = s.post("/public/recipe/signin", json!({"email": "bob@example.com", "password": "pw-secret"})).await;
    assert_eq!(signin["status"], "WRONG_CREDENTIALS_ERROR");
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={a}")).await["metadata"], json!({"plan": "pro"}));
    // Its e-mail is free again for an e-mail-password sign-up, which may link to the group.
    let again = id_of(&ep_up(&s, "public", "bob@example.com").await);
    assert_eq!(link(&s, &again, &t).await["user"]["id"].as_str(), Some(a.as_str()));
}

/// Conflicts with other primary users that share a tenant with the union of both users'
/// tenants: by e-mail, phone number and provider pair.
async fn conflicts_across_tenants(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    tenant(&s, "t1").await;
    tenant(&s, "t2").await;
    // E-mail: a primary user in public, another with the same e-mail in t1 only.
    let a = id_of(&ep_up(&s, "public", "eve@example.com").await);
    s.clock.advance_ms(1);
    let b1 = id_of(&ep_up(&s, "t1", "eve@example.com").await);
    s.clock.advance_ms(1);
    make_primary(&s, &a).await;
    assert_eq!(make_primary(&s, &b1).await["status"], "OK", "no shared tenant");
    // A user of t1 may not join `a` (its e-mail is b1's in t1); a user of t2 may.
    let r1 = id_of(&ep_up(&s, "t1", "rick@example.com").await);
    let r2 = id_of(&ep_up(&s, "t2", "rick@example.com").await);
    let conflict = refusal("ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR", &b1, DESC_EMAIL);
    assert_eq!(check_link(&s, &r1, &a).await, conflict);
    assert_eq!(link(&s, &r1, &a).await, conflict);
    assert_eq!(link(&s, &r2, &a).await["status"], "OK");
    // Nor may a user whose e-mail another primary user holds where the group lives: `a`,
    // in t2 through r2 now (and b1 in t1; the oldest is reported).
    let r3 = id_of(&tp_up(&s, "t1", "github", "gh-3", "eve@example.com").await);
    let b2 = id_of(&ep_up(&s, "t2", "zed@example.com").await);
    make_primary(&s, &b2).await;
    assert_eq!(
        link(&s, &r3, &b2).await,
        refusal("ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR", &a, DESC_EMAIL)
    );
    let r4 = id_of(&tp_up(&s, "t2", "github", "gh-4", "eve@example.com").await);
    assert_eq!(
        check_primary(&s, &r4).await,
        refusal("ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR", &a, DESC_EMAIL)
    );

    // Phone number: the same number in t1 and t2 (unique per tenant).
    let p1 = id_of(&pl_up(&s, "t1", json!({"phoneNumber": "+14155550111"})).await);
    let p2 = id_of(&pl_up(&s, "t2", json!({"phoneNumber": "+14155550111"})).await);
    make_primary(&s, &p1).await;
    let q = id_of(&ep_up(&s, "t1", "quinn@example.com").await);
    make_primary(&s, &q).await;
    assert_eq!(
        link(&s, &p2, &q).await,
        refusal("ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR", &p1, DESC_PHONE)
    );
    assert_eq!(make_primary(&s, &p2).await["status"], "OK", "t2 alone: no conflict");

    // Provider pair: the same pair in public and t1.
    let g0 = id_of(&tp_up(&s, "public", "google", "same", "g0@example.com").await);
    let g1 = id_of(&tp_up(&s, "t1", "google", "same", "g1@example.com").await);
    make_primary(&s, &g0).await;
    let w = id_of(&ep_up(&s, "public", "walt@example.com").await);
    make_primary(&s, &w).await;
    assert_eq!(
        link(&s, &g1, &w).await,
        refusal("ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR", &g0, DESC_TP)
    );
    assert_eq!(check_primary(&s, &g1).await["status"], "OK", "t1 alone: the pair's other holder is in public only");
}

/// The linked user wherever a user is returned: every recipe's sign-in (and sign-up) answers
/// with the group and the login method used, lists and counts show it once, by account info by
/// any of its infos, and versions before 4.0 its oldest method.
async fn linked_user_everywhere(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let a = id_of(&ep_up(&s, "public", "cy@example.com").await);
    s.clock.advance_ms(10);
    let t = id_of(&tp_up(&s, "public", "google", "g-cy", "cy@example.com").await);
    s.clock.advance_ms(10);
    let p = id_of(&pl_up(&s, "public", json!({"phoneNumber": "+14155550122"})).await);
    s.clock.advance_ms(10);
    let lone = id_of(&ep_up(&s, "public", "lone@example.com").await);
    make_primary(&s, &a).await;
    link(&s, &t, &a).await;
    let group = link(&s, &p, &a).await["user"].clone();
    assert_eq!(methods(&group), vec![a.clone(), t.clone(), p.clone()]);
    assert_eq!(group["phoneNumbers"], json!(["+14155550122"]));

    let signin = s.post("/public/recipe/signin", json!({"email": "cy@example.com", "password": "pw-secret"})).await;
    assert_eq!((&signin["user"], signin["recipeUserId"].as_str()), (&group, Some(a.as_str())));
    let tp_in = tp_up(&s, "public", "google", "g-cy", "cy@example.com").await;
    assert_eq!(
        (&tp_in["user"], tp_in["recipeUserId"].as_str(), tp_in["createdNewUser"].as_bool()),
        (&group, Some(t.as_str()), Some(false))
    );
    let pl_in = pl_up(&s, "public", json!({"phoneNumber": "+14155550122"})).await;
    assert_eq!(
        (&pl_in["user"], pl_in["recipeUserId"].as_str(), pl_in["createdNewUser"].as_bool()),
        (&group, Some(p.as_str()), Some(false))
    );

    let listed = s.get("/users").await;
    let ids: Vec<&str> = listed["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![a.as_str(), lone.as_str()]);
    assert_eq!(listed["users"][0], group);
    let desc = s.get("/users?timeJoinedOrder=DESC").await;
    assert_eq!(desc["users"][1], group);
    assert_eq!(s.get("/users/count").await["count"], 2);
    assert_eq!(s.get("/users?email=cy").await["users"], json!([group]));
    for query in [
        "email=cy@example.com",
        "phoneNumber=%2B14155550122",
        "thirdPartyId=google&thirdPartyUserId=g-cy",
        "email=cy@example.com&phoneNumber=%2B14155550122",
    ] {
        let found = s.get(&format!("/public/users/by-accountinfo?{query}&doUnionOfAccountInfo=false")).await;
        assert_eq!(found["users"], json!([group]), "{query}");
    }
    // The deprecated look-ups: the group.
    assert_eq!(s.get("/public/recipe/user?email=cy@example.com").await["user"], group);

    // Before CDI 4.0 a user is its oldest login method.
    let (st, text) = s.request("GET", "/users", None, &[("cdi-version", "3.0")]).await;
    assert_eq!(st, 200);
    let old: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(old["users"][0]["recipeId"], "emailpassword");
    assert_eq!(old["users"][0]["user"]["id"].as_str(), Some(a.as_str()));
    let (_, text) = s
        .request(
            "POST",
            "/public/recipe/signin",
            Some(json!({"email": "cy@example.com", "password": "pw-secret"})),
            &[("cdi-version", "3.0")],
        )
        .await;
    let old: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((old["user"]["id"].as_str(), old.get("recipeUserId")), (Some(a.as_str()), None));
}

/// `/user/remove`: one login method (`removeAllLinkedAccounts=false`), the primary's own, or
/// the whole group; verification and metadata are per id, not merged.
async fn removal_verification_and_metadata(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let a = id_of(&ep_up(&s, "public", "dee@example.com").await);
    let t = id_of(&tp_up(&s, "public", "google", "g-dee", "dee@example.com").await);
    let p = id_of(&pl_up(&s, "public", json!({"phoneNumber": "+14155550133"})).await);
    make_primary(&s, &a).await;
    // The third-party e-mail verified before linking stays that method's only.
    let token =
        s.post("/public/recipe/user/email/verify/token", json!({"userId": t, "email": "dee@example.com"})).await;
    s.post("/public/recipe/user/email/verify", json!({"method": "token", "token": token["token"]})).await;
    s.put("/recipe/user/metadata", json!({"userId": t, "metadataUpdate": {"of": "t"}})).await;
    s.put("/recipe/user/metadata", json!({"userId": a, "metadataUpdate": {"of": "a"}})).await;
    link(&s, &t, &a).await;
    let group = link(&s, &p, &a).await["user"].clone();
    let verified: Vec<(String, bool)> = group["loginMethods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["recipeUserId"].as_str().unwrap().to_string(), m["verified"].as_bool().unwrap()))
        .collect();
    assert!(verified.contains(&(a.clone(), false)) && verified.contains(&(t.clone(), true)), "{verified:?}");
    let verify = |id: &str| format!("/recipe/user/email/verify?userId={id}&email=dee@example.com");
    assert_eq!(s.get(&verify(&a)).await["isVerified"], false);
    for (id, of) in [(&a, "a"), (&t, "t")] {
        assert_eq!(s.get(&format!("/recipe/user/metadata?userId={id}")).await["metadata"], json!({"of": of}));
    }

    // One linked method.
    s.post("/user/remove", json!({"userId": p, "removeAllLinkedAccounts": false})).await;
    let mut left = methods(&user(&s, &a).await);
    left.sort();
    let mut want = vec![a.clone(), t.clone()];
    want.sort();
    assert_eq!(left, want);
    assert_eq!(s.get(&format!("/user/id?userId={p}")).await["status"], "UNKNOWN_USER_ID_ERROR");
    // The primary's own method: its id keeps naming the group.
    s.post("/user/remove", json!({"userId": a, "removeAllLinkedAccounts": false})).await;
    let left = user(&s, &t).await;
    assert_eq!((left["id"].as_str(), methods(&left)), (Some(a.as_str()), vec![t.clone()]));
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={a}")).await["metadata"], json!({"of": "a"}));
    // The whole group, by any of its ids: everything goes.
    s.post("/user/remove", json!({"userId": t})).await;
    for id in [&a, &t] {
        assert_eq!(s.get(&format!("/user/id?userId={id}")).await["status"], "UNKNOWN_USER_ID_ERROR");
        assert_eq!(s.get(&format!("/recipe/user/metadata?userId={id}")).await["metadata"], json!({}));
    }
    assert_eq!(s.get("/users/count").await["count"], 0);

    // removeAllLinkedAccounts (the default) on a linked method takes the whole group.
    let a = id_of(&ep_up(&s, "public", "dee@example.com").await);
    let t = id_of(&tp_up(&s, "public", "google", "g-dee2", "dee@example.com").await);
    make_primary(&s, &a).await;
    link(&s, &t, &a).await;
    s.post("/user/remove", json!({"userId": t})).await;
    assert_eq!(s.get(&format!("/user/id?userId={a}")).await["status"], "UNKNOWN_USER_ID_ERROR");
}

/// A user's sessions by user id (`GET /recipe/session/user`, `POST /recipe/session/remove`) take
/// the sessions of every login method of its group by default, only its own with
/// `fetchSessionsForAllLinkedAccounts=false` / `revokeSessionsForLinkedAccounts=false`.
async fn sessions_of_a_group(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let a = id_of(&ep_up(&s, "public", "hal@example.com").await);
    let t = id_of(&tp_up(&s, "public", "google", "g-hal", "hal@example.com").await);
    make_primary(&s, &a).await;
    link(&s, &t, &a).await;
    let mut handles = Vec::new();
    for id in [&a, &t] {
        let body = json!({"userId": id, "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
        handles.push(s.post("/public/recipe/session", body).await["session"]["handle"].as_str().unwrap().to_string());
    }
    let of = |query: String| {
        let s = &s;
        async move {
            let mut h: Vec<String> = s.get(&format!("/recipe/session/user?{query}")).await["sessionHandles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
                .collect();
            h.sort();
            h
        }
    };
    let mut all = handles.clone();
    all.sort();
    assert_eq!(of(format!("userId={a}")).await, all);
    assert_eq!(of(format!("userId={t}")).await, all);
    assert_eq!(of(format!("userId={t}&fetchSessionsForAllLinkedAccounts=false")).await, vec![handles[1].clone()]);
    let removed =
        s.post("/recipe/session/remove", json!({"userId": t, "revokeSessionsForLinkedAccounts": false})).await;
    assert_eq!(removed["sessionHandlesRevoked"], json!([handles[1]]));
    let removed = s.post("/recipe/session/remove", json!({"userId": t})).await;
    assert_eq!(removed["sessionHandlesRevoked"], json!([handles[0]]));
}

/// A group written by a Java core (its rows, made here with SQL) is linked to and unlinked from
/// through the API, and the rows this server writes for a link are the ones a Java core in
/// LEGACY mode writes (flag, group id and the group's time joined in both tables).
#[tokio::test]
async fn java_rows_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, cheap_hashing()).await else { return };
    let up = ep_up(&s, "public", "ivy@example.com").await;
    let (a, a_joined) = (id_of(&up), up["user"]["timeJoined"].as_i64().unwrap());
    s.clock.advance_ms(100);
    let t = id_of(&tp_up(&s, "public", "google", "g-ivy", "ivy@example.com").await);
    s.clock.advance_ms(100);
    let p = id_of(&pl_up(&s, "public", json!({"email": "ivy@example.com"})).await);
    let (client, conn) = tokio_postgres::connect(s.db_url.as_ref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    // As a Java core links `t` to `a`.
    client
        .batch_execute(&format!(
            "UPDATE app_id_to_user_id SET is_linked_or_is_a_primary_user = TRUE, primary_or_recipe_user_id = '{a}'
               WHERE user_id IN ('{a}', '{t}');
             UPDATE all_auth_recipe_users SET is_linked_or_is_a_primary_user = TRUE, primary_or_recipe_user_id = '{a}',
               primary_or_recipe_user_time_joined = {a_joined} WHERE user_id IN ('{a}', '{t}');"
        ))
        .await
        .unwrap();
    assert_eq!(check_primary(&s, &t).await["status"], "RECIPE_USER_ID_ALREADY_LINKED_WITH_PRIMARY_USER_ID_ERROR");
    assert_eq!(link(&s, &p, &t).await["status"], "OK");
    let rows = client
        .query(
            "SELECT a.user_id::TEXT, a.primary_or_recipe_user_id::TEXT, a.is_linked_or_is_a_primary_user,
                    r.primary_or_recipe_user_id::TEXT, r.is_linked_or_is_a_primary_user, r.primary_or_recipe_user_time_joined
               FROM app_id_to_user_id a JOIN all_auth_recipe_users r ON r.app_id = a.app_id AND r.user_id = a.user_id
               ORDER BY a.user_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        let (id, group, flag): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
        let (r_group, r_flag, r_joined): (String, bool, i64) = (row.get(3), row.get(4), row.get(5));
        assert_eq!(
            (group.as_str(), flag, r_group.as_str(), r_flag, r_joined),
            (a.as_str(), true, a.as_str(), true, a_joined),
            "{id}"
        );
    }
    assert_eq!(unlink(&s, &t).await["wasLinked"], true);
    let row = client
        .query_one(
            "SELECT primary_or_recipe_user_id::TEXT, is_linked_or_is_a_primary_user FROM all_auth_recipe_users WHERE user_id = $1",
            &[&t],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, bool>(1)), (t.clone(), false));
    drop(client);
    let _ = task.await;
    assert_eq!(methods(&user(&s, &a).await).len(), 2);
}

/// Pages follow the group's time joined, its oldest remaining login method's, when a method is
/// linked, unlinked or removed.
async fn group_time_joined(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let order = || {
        let s = &s;
        async move {
            let page = s.get("/users?timeJoinedOrder=ASC").await;
            page["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    let a = id_of(&ep_up(&s, "public", "ida@example.com").await);
    s.clock.advance_ms(10);
    let lone = id_of(&ep_up(&s, "public", "lone@example.com").await);
    s.clock.advance_ms(10);
    let t = id_of(&tp_up(&s, "public", "google", "g-ida", "ida@example.com").await);
    s.clock.advance_ms(10);
    let u = id_of(&tp_up(&s, "public", "google", "g-ida2", "ida@example.com").await);
    make_primary(&s, &t).await;
    assert_eq!(order().await, vec![a.clone(), lone.clone(), t.clone(), u.clone()]);
    link(&s, &a, &t).await;
    assert_eq!(order().await, vec![t.clone(), lone.clone(), u.clone()], "the group joined when `a` did");
    unlink(&s, &a).await;
    assert_eq!(order().await, vec![a.clone(), lone.clone(), t.clone(), u.clone()]);
    link(&s, &a, &t).await;
    link(&s, &u, &t).await;
    // The oldest method removed: the group joined when `t` did.
    s.post("/user/remove", json!({"userId": a, "removeAllLinkedAccounts": false})).await;
    assert_eq!(order().await, vec![lone.clone(), t.clone()]);
    // The primary's own method removed by unlinking it: when `u` did.
    assert_eq!(unlink(&s, &t).await["wasRecipeUserDeleted"], true);
    let page = s.get("/users").await;
    assert_eq!(page["users"][1]["id"].as_str(), Some(t.as_str()));
    assert_eq!(page["users"][1]["timeJoined"], user(&s, &u).await["loginMethods"][0]["timeJoined"]);
    let token_page = s.get("/users?limit=1").await;
    let next = token_page["nextPaginationToken"].as_str().unwrap().to_string();
    assert_eq!(
        s.get(&format!("/users?limit=1&paginationToken={next}")).await["users"][0]["id"].as_str(),
        Some(t.as_str())
    );
}

/// User-id mappings: external ids accepted for every id and returned in every answer.
async fn mapped_users(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let a = id_of(&ep_up(&s, "public", "fay@example.com").await);
    s.clock.advance_ms(1);
    let t = id_of(&tp_up(&s, "public", "google", "g-fay", "fay@example.com").await);
    let x = id_of(&ep_up(&s, "public", "other@example.com").await);
    for (st, ext) in [(&a, "ext-a"), (&t, "ext-t"), (&x, "ext-x")] {
        let r = s.post("/recipe/userid/map", json!({"superTokensUserId": st, "externalUserId": ext})).await;
        assert_eq!(r["status"], "OK");
    }
    assert_eq!(check_primary(&s, "ext-a").await["status"], "OK");
    let made = make_primary(&s, "ext-a").await;
    assert_eq!((made["user"]["id"].as_str(), methods(&made["user"])), (Some("ext-a"), vec!["ext-a".to_string()]));
    assert_eq!(
        check_primary(&s, "ext-t").await,
        refusal("ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR", "ext-a", DESC_EMAIL)
    );
    let linked = link(&s, "ext-t", &a).await;
    assert_eq!(linked["user"]["id"], "ext-a");
    assert_eq!(methods(&linked["user"]), vec!["ext-a".to_string(), "ext-t".to_string()]);
    assert_eq!(user(&s, "ext-t").await, linked["user"]);
    make_primary(&s, &x).await;
    let elsewhere = link(&s, &t, "ext-x").await;
    assert_eq!(elsewhere["primaryUserId"], "ext-a");
    // A session of the linked method: the group's external id and the method's.
    let body = json!({"userId": "ext-t", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    let created = s.post("/public/recipe/session", body).await;
    assert_eq!(
        (created["session"]["userId"].as_str(), created["session"]["recipeUserId"].as_str()),
        (Some("ext-a"), Some("ext-t"))
    );
    assert_eq!(unlink(&s, "ext-t").await["wasLinked"], true);
    let h = created["session"]["handle"].as_str().unwrap();
    assert_eq!(s.get(&format!("/public/recipe/session?sessionHandle={h}")).await["status"], "UNAUTHORISED");
    assert_eq!(user(&s, &t).await["id"], "ext-t");
}

/// A primary user's login method may not take an e-mail or phone number another primary user
/// holds in one of its tenants, in every recipe's update (e-mail-password and passwordless
/// `PUT /recipe/user`, third-party sign-in with a new e-mail); a user that is not primary may.
async fn account_info_changes(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    tenant(&s, "t1").await;
    let a = id_of(&ep_up(&s, "public", "amy@example.com").await);
    let b_ = id_of(&ep_up(&s, "public", "ben@example.com").await);
    let d = id_of(&ep_up(&s, "t1", "dan@example.com").await);
    let c = id_of(&tp_up(&s, "public", "google", "g-cat", "cat@example.com").await);
    let p = id_of(&pl_up(&s, "public", json!({"phoneNumber": "+14155550144"})).await);
    let q = id_of(&pl_up(&s, "public", json!({"phoneNumber": "+14155550155"})).await);
    for id in [&a, &b_, &d, &c, &p, &q] {
        make_primary(&s, id).await;
    }
    let not_allowed = json!({"status": "EMAIL_CHANGE_NOT_ALLOWED_ERROR", "reason": "New email is associated with another primary user ID"});
    let put = |id: &str, body: Value, rid: &'static str| {
        let s = &s;
        let mut body = body;
        body["recipeUserId"] = json!(id);
        async move {
            let (st, text) =
                s.request("PUT", "/recipe/user", Some(body), &[("cdi-version", "5.4"), ("rid", rid)]).await;
            assert_eq!(st, 200, "{text}");
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    assert_eq!(put(&a, json!({"email": "ben@example.com"}), "emailpassword").await, not_allowed);
    assert_eq!(
        put(&a, json!({"email": "dan@example.com"}), "emailpassword").await["status"],
        "OK",
        "dan is in t1 only"
    );
    assert_eq!(put(&p, json!({"email": "ben@example.com"}), "passwordless").await, not_allowed);
    assert_eq!(
        put(&p, json!({"phoneNumber": "+14155550155"}), "passwordless").await,
        json!({"status": "PHONE_NUMBER_CHANGE_NOT_ALLOWED_ERROR", "reason": "New phone number is associated with another primary user ID"})
    );
    // The e-mail first, as the reference: refused before the phone number is looked at.
    let both = put(&p, json!({"email": "ben@example.com", "phoneNumber": "+14155550155"}), "passwordless").await;
    assert_eq!(both["status"], "EMAIL_CHANGE_NOT_ALLOWED_ERROR");
    let body = json!({"thirdPartyId": "google", "thirdPartyUserId": "g-cat", "email": {"id": "ben@example.com", "isVerified": false}});
    let signin = s.post("/public/recipe/signinup", body).await;
    assert_eq!(signin["status"], "EMAIL_CHANGE_NOT_ALLOWED_ERROR", "{signin}");
    assert_eq!(user(&s, &c).await["emails"], json!(["cat@example.com"]), "nothing written");
    // A user that is not primary may take it (another recipe's user: no duplicate).
    unlink(&s, &c).await;
    let signin = s.post("/public/recipe/signinup", json!({"thirdPartyId": "google", "thirdPartyUserId": "g-cat", "email": {"id": "ben@example.com", "isVerified": false}})).await;
    assert_eq!((signin["status"].as_str(), signin["user"]["emails"].clone()), (Some("OK"), json!(["ben@example.com"])));
    // ... and may not become primary with it then.
    assert_eq!(
        make_primary(&s, &c).await["status"],
        "ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR"
    );
}

/// The version branches: served at every version (the reference's classes read it only for the
/// user's `webauthn` field, from 5.3); app-wide: a non-public tenant is ignored before 5.0, a 403
/// from 5.0; pre-3.0 paths may not name a tenant.
async fn versions(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    tenant(&s, "t1").await;
    let a = id_of(&ep_up(&s, "public", "gus@example.com").await);
    let body = Some(json!({"recipeUserId": a}));
    for v in ["2.7", "3.0", "4.0", "5.2"] {
        let (st, text) =
            s.request("POST", "/recipe/accountlinking/user/primary", body.clone(), &[("cdi-version", v)]).await;
        assert_eq!(st, 200, "{v}: {text}");
        let r: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((r["status"].as_str(), r["user"].get("webauthn")), (Some("OK"), None), "{v}");
    }
    let (_, text) =
        s.request("POST", "/recipe/accountlinking/user/primary", body.clone(), &[("cdi-version", "5.3")]).await;
    assert!(text.contains("\"webauthn\""), "{text}");
    let (st, _) =
        s.request("POST", "/t1/recipe/accountlinking/user/primary", body.clone(), &[("cdi-version", "4.0")]).await;
    assert_eq!(st, 200, "a tenant is ignored before 5.0");
    let (st, text) =
        s.request("POST", "/t1/recipe/accountlinking/user/primary", body.clone(), &[("cdi-version", "5.0")]).await;
    assert_eq!((st, text.trim_end()), (403, "Only public tenantId can call this app specific API"));
    let (st, _) = s.request("POST", "/t1/recipe/accountlinking/user/primary", body, &[("cdi-version", "2.21")]).await;
    assert_eq!(st, 404);
    let (st, _) = s.request("GET", "/recipe/accountlinking/user/unlink", None, &H).await;
    assert_eq!(st, 405);
}

st_tests::both_backends! {
    primary_users => primary_users;
    link_and_unlink => link_and_unlink;
    conflicts_across_tenants => conflicts_across_tenants;
    linked_user_everywhere => linked_user_everywhere;
    removal_verification_and_metadata => removal_verification_and_metadata;
    mapped_users => mapped_users;
    group_time_joined => group_time_joined;
    sessions_of_a_group => sessions_of_a_group;
    account_info_changes => account_info_changes;
    versions => versions;
    concurrent_linking => concurrency::concurrent_linking;
}
