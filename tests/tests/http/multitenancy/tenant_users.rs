//! Users added to and taken out of tenants (e-mail-password, third-party, passwordless), and the
//! linked-user rule.

use super::*;

async fn associate(s: &TestServer, version: &str, prefix: &str, body: Value) -> (u16, String) {
    let path = format!("{prefix}/recipe/multitenancy/tenant/user");
    let (st, text) = s.request("POST", &path, Some(body), &[("cdi-version", version)]).await;
    (st, text.trim_end().to_string())
}

async fn disassociate(s: &TestServer, version: &str, prefix: &str, body: Value) -> (u16, String) {
    let path = format!("{prefix}/recipe/multitenancy/tenant/user/remove");
    let (st, text) = s.request("POST", &path, Some(body), &[("cdi-version", version)]).await;
    (st, text.trim_end().to_string())
}

pub(super) async fn users_added_to_and_taken_out_of_tenants(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    for t in ["t1", "t2"] {
        s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": t, "firstFactors": ["emailpassword"]})).await;
    }
    let u1 = sign_up(&s, "same@example.com", "pw-1").await["user"]["id"].as_str().unwrap().to_string();
    let r = s.post("/t1/recipe/signup", json!({"email": "same@example.com", "password": "pw-2"})).await;
    let u2 = r["user"]["id"].as_str().unwrap().to_string();
    let signin = |prefix: &'static str| {
        let s = &s;
        async move {
            let body = json!({"email": "same@example.com", "password": "pw-1"});
            s.post(&format!("{prefix}/recipe/signin"), body).await["status"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(signin("/t2").await, "WRONG_CREDENTIALS_ERROR");

    // Added (`recipeUserId` from 4.0), once.
    let r = ok_json(associate(&s, "5.4", "/t2", json!({ "recipeUserId": u1 })).await);
    assert_eq!(r, json!({"status": "OK", "wasAlreadyAssociated": false}));
    let r = ok_json(associate(&s, "4.0", "/t2", json!({ "recipeUserId": format!(" {u1} ") })).await);
    assert_eq!(r, json!({"status": "OK", "wasAlreadyAssociated": true}));
    assert_eq!(signin("/t2").await, "OK");
    let user = s.get(&format!("/user/id?userId={u1}")).await;
    assert_eq!(str_set(&user["user"]["tenantIds"]), set(&["public", "t2"]));
    assert_eq!(str_set(&user["user"]["loginMethods"][0]["tenantIds"]), set(&["public", "t2"]));

    // The e-mail is taken in t1 by another email-password user.
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": u1 })).await);
    assert_eq!(r, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));
    let r = ok_json(associate(&s, "5.4", "/t2", json!({ "recipeUserId": u2 })).await);
    assert_eq!(r, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));
    for id in ["nobody", "00000000-0000-4000-8000-000000000000"] {
        let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": id })).await);
        assert_eq!(r, json!({"status": "UNKNOWN_USER_ID_ERROR"}), "{id}");
    }

    // `userId` before 4.0; the field names and the reference's messages.
    let r = ok_json(associate(&s, "3.0", "/t2", json!({ "userId": u1 })).await);
    assert_eq!(r["wasAlreadyAssociated"], true);
    for (v, body, msg) in [
        ("3.0", json!({ "recipeUserId": u1 }), "Field name 'userId' is invalid in JSON input"),
        ("5.4", json!({ "userId": u1 }), "Field name 'recipeUserId' is invalid in JSON input"),
        ("5.4", json!({"recipeUserId": 5}), "Field name 'recipeUserId' is invalid in JSON input"),
        ("5.4", json!({"recipeUserId": " "}), "Field name 'userId' cannot be an empty String"),
        ("3.1", json!({"userId": ""}), "Field name 'userId' cannot be an empty String"),
    ] {
        assert_eq!(associate(&s, v, "/t2", body.clone()).await, (400, msg.to_string()), "{v} {body}");
        assert_eq!(disassociate(&s, v, "/t2", body.clone()).await, (400, msg.to_string()), "{v} {body}");
    }
    let not_found = "AppId or tenantId not found => Tenant with the following connectionURIDomain, appId and tenantId combination not found: (, public, nope)";
    assert_eq!(associate(&s, "5.4", "/nope", json!({ "recipeUserId": u1 })).await, (400, not_found.to_string()));
    assert_eq!(disassociate(&s, "5.4", "/nope", json!({ "recipeUserId": u1 })).await, (400, not_found.to_string()));
    assert_eq!(associate(&s, "2.21", "/t2", json!({ "userId": u1 })).await.0, 404, "no tenants before 3.0");
    let r = ok_json(associate(&s, "2.21", "", json!({ "userId": u1 })).await);
    assert_eq!(r["wasAlreadyAssociated"], true, "the public tenant");

    // An external id names its user.
    let map = json!({"superTokensUserId": u2, "externalUserId": "ext-2"});
    assert_eq!(s.post("/recipe/userid/map", map).await["status"], "OK");
    let r = ok_json(associate(&s, "5.4", "/t2", json!({"recipeUserId": "ext-2"})).await);
    assert_eq!(r["status"], "EMAIL_ALREADY_EXISTS_ERROR");

    // Taken out with its sessions and roles in that tenant; not from the others.
    let session = |prefix: &'static str| {
        let s = &s;
        let body = json!({"userId": u1, "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
        async move { handle(&s.post(&format!("{prefix}/recipe/session"), body).await) }
    };
    let (h_public, h_t2) = (session("").await, session("/t2").await);
    s.put("/recipe/role", json!({"role": "admin"})).await;
    for prefix in ["", "/t2"] {
        s.put(&format!("{prefix}/recipe/user/role"), json!({"userId": u1, "role": "admin"})).await;
    }
    let r = ok_json(disassociate(&s, "5.4", "/t2", json!({ "recipeUserId": u1 })).await);
    assert_eq!(r, json!({"status": "OK", "wasAssociated": true}));
    assert_eq!(signin("/t2").await, "WRONG_CREDENTIALS_ERROR");
    assert_eq!(s.get(&format!("/t2/recipe/session?sessionHandle={h_t2}")).await["status"], "UNAUTHORISED");
    assert_eq!(s.get(&format!("/recipe/session?sessionHandle={h_public}")).await["status"], "OK");
    assert_eq!(s.get(&format!("/t2/recipe/user/roles?userId={u1}")).await["roles"], json!([]));
    assert_eq!(s.get(&format!("/recipe/user/roles?userId={u1}")).await["roles"], json!(["admin"]));
    let r = ok_json(disassociate(&s, "3.0", "/t2", json!({ "userId": u1 })).await);
    assert_eq!(r, json!({"status": "OK", "wasAssociated": false}));
    let user = s.get(&format!("/user/id?userId={u1}")).await;
    assert_eq!(str_set(&user["user"]["tenantIds"]), set(&["public"]));

    // An id without a login method: its data there goes; an id that names nothing is unknown.
    let body = json!({"userId": "someone", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    let h = handle(&s.post("/t2/recipe/session", body).await);
    let r = ok_json(disassociate(&s, "5.4", "/t2", json!({"recipeUserId": "someone"})).await);
    assert_eq!(r, json!({"status": "OK", "wasAssociated": true}));
    assert_eq!(s.get(&format!("/t2/recipe/session?sessionHandle={h}")).await["status"], "UNAUTHORISED");
    let r = ok_json(disassociate(&s, "5.4", "/t2", json!({"recipeUserId": "someone"})).await);
    assert_eq!(r, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    let r = ok_json(associate(&s, "5.4", "/t2", json!({"recipeUserId": "someone"})).await);
    assert_eq!(r, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    // By external id: out of t1, then the e-mail is free there for the other user.
    let r = ok_json(disassociate(&s, "5.4", "/t1", json!({"recipeUserId": "ext-2"})).await);
    assert_eq!(r["wasAssociated"], true);
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": u1 })).await);
    assert_eq!(r["wasAlreadyAssociated"], false);
    s.stop().await;
}

/// Third-party login methods: the provider pair is unique per tenant, the e-mail is not.
pub(super) async fn third_party_users_added_to_tenants(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    for t in ["t1", "t2"] {
        s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": t, "firstFactors": ["thirdparty"]})).await;
    }
    let tp = |tenant: &str, user: &str, email: &str| {
        let s = &s;
        let path = format!("/{tenant}/recipe/signinup");
        let body =
            json!({"thirdPartyId": "google", "thirdPartyUserId": user, "email": {"id": email, "isVerified": false}});
        async move { s.post(&path, body).await["user"]["id"].as_str().unwrap().to_string() }
    };
    let g1 = tp("public", "g-1", "a@example.com").await;
    let g1_t1 = tp("t1", "g-1", "b@example.com").await;
    assert_ne!(g1, g1_t1, "one pair, two tenants, two users");
    let g2 = tp("t1", "g-2", "a@example.com").await;
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": g1 })).await);
    assert_eq!(r, json!({"status": "THIRD_PARTY_USER_ALREADY_EXISTS_ERROR"}));
    let r = ok_json(associate(&s, "5.4", "/t2", json!({ "recipeUserId": g1 })).await);
    assert_eq!(r["wasAlreadyAssociated"], false);
    let r = ok_json(associate(&s, "5.4", "/public", json!({ "recipeUserId": g2 })).await);
    assert_eq!(r["wasAlreadyAssociated"], false, "the same e-mail under another pair");
    // Signing in through t2 finds the user added there.
    assert_eq!(tp("t2", "g-1", "a@example.com").await, g1);
    let r = ok_json(disassociate(&s, "5.4", "/t2", json!({ "recipeUserId": g1 })).await);
    assert_eq!(r["wasAssociated"], true);
    assert_ne!(tp("t2", "g-1", "a@example.com").await, g1, "a new user once it left");
    s.stop().await;
}

/// Passwordless login methods: e-mail and phone number unique per tenant among them.
pub(super) async fn passwordless_users_added_to_tenants(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1", "firstFactors": null})).await;
    let pl = |tenant: &'static str, contact: Value| {
        let s = &s;
        async move {
            let code = s.post(&format!("/{tenant}/recipe/signinup/code"), contact).await;
            let body = json!({"preAuthSessionId": code["preAuthSessionId"], "linkCode": code["linkCode"]});
            let r = s.post(&format!("/{tenant}/recipe/signinup/code/consume"), body).await;
            assert_eq!(r["createdNewUser"], true, "{r}");
            r["user"]["id"].as_str().unwrap().to_string()
        }
    };
    let by_phone = pl("public", json!({"phoneNumber": "+14155550101"})).await;
    let by_email = pl("public", json!({"email": "p@example.com"})).await;
    pl("t1", json!({"phoneNumber": "+1 415 555 0101"})).await;
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": by_phone })).await);
    assert_eq!(r, json!({"status": "PHONE_NUMBER_ALREADY_EXISTS_ERROR"}));
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": by_email })).await);
    assert_eq!(r["wasAlreadyAssociated"], false);
    pl("public", json!({"email": "q@example.com"})).await;
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": by_email })).await);
    assert_eq!(r["wasAlreadyAssociated"], true);
    s.stop().await;
}

/// A login method of a linked group (written with SQL, as a Java core with account linking
/// leaves it) may not join a tenant where another primary user has one of its group's e-mails.
#[tokio::test]
async fn association_not_allowed_for_a_linked_user_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, cheap_hashing()).await else { return };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1", "firstFactors": ["emailpassword"]})).await;
    let id_of = |v: &Value| v["user"]["id"].as_str().unwrap().to_string();
    let p = id_of(&sign_up(&s, "pat@example.com", "pw").await);
    s.clock.advance_ms(1);
    let m = id_of(&sign_up(&s, "max@example.com", "pw").await);
    let z = id_of(&s.post("/t1/recipe/signup", json!({"email": "pat@example.com", "password": "pw"})).await);
    let (client, conn) = tokio_postgres::connect(s.db_url.as_deref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let link = |primary: String, ids: Vec<String>| {
        let client = &client;
        async move {
            let ids: Vec<String> = ids.iter().map(|i| format!("'{i}'")).collect();
            let ids = ids.join(", ");
            for table in ["app_id_to_user_id", "all_auth_recipe_users"] {
                let sql = format!(
                    "UPDATE {table} SET primary_or_recipe_user_id = '{primary}', is_linked_or_is_a_primary_user = TRUE \
                     WHERE user_id IN ({ids})"
                );
                client.batch_execute(&sql).await.unwrap();
            }
        }
    };
    link(p.clone(), vec![p.clone(), m.clone()]).await;
    // Not a primary user yet: `z` does not stand in the way of `m` (its own e-mail is free in t1).
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": m })).await);
    assert_eq!(r["wasAlreadyAssociated"], false);
    assert_eq!(ok_json(disassociate(&s, "5.4", "/t1", json!({ "recipeUserId": m })).await)["wasAssociated"], true);
    link(z.clone(), vec![z.clone()]).await;
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": m })).await);
    assert_eq!(
        r,
        json!({"status": "ASSOCIATION_NOT_ALLOWED_ERROR", "reason": format!("Another primary user with email already exists: {z}")})
    );
    // The primary's own e-mail is taken in t1 by `z` as an email-password user too; the
    // primary-user rule is checked first.
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": p })).await);
    assert_eq!(r["status"], "ASSOCIATION_NOT_ALLOWED_ERROR");
    drop(client);
    let _ = task.await;
    s.stop().await;
}
