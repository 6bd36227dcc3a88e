//! The user-roles recipe over HTTP (§a.12): roles and their permissions, users' roles, and the
//! input rules (trimming, empty names).

use crate::helpers::*;
use serde_json::json;

async fn roles_permissions_and_users(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    assert_eq!(
        s.put("/recipe/role", json!({"role": "admin", "permissions": ["read", "write"]})).await["createdNewRole"],
        true
    );
    assert_eq!(
        s.put("/recipe/role", json!({"role": "admin", "permissions": ["delete"]})).await["createdNewRole"],
        false
    );
    let mut perms: Vec<String> =
        serde_json::from_value(s.get("/recipe/role/permissions?role=admin").await["permissions"].clone()).unwrap();
    perms.sort();
    assert_eq!(perms, ["delete", "read", "write"]);
    assert_eq!(s.get("/recipe/permission/roles?permission=read").await["roles"], json!(["admin"]));
    assert_eq!(
        s.put("/public/recipe/user/role", json!({"userId": "u1", "role": "admin"})).await["didUserAlreadyHaveRole"],
        false
    );
    assert_eq!(
        s.put("/public/recipe/user/role", json!({"userId": "u1", "role": "admin"})).await["didUserAlreadyHaveRole"],
        true
    );
    assert_eq!(
        s.put("/public/recipe/user/role", json!({"userId": "u1", "role": "nope"})).await["status"],
        "UNKNOWN_ROLE_ERROR"
    );
    assert_eq!(s.get("/public/recipe/user/roles?userId=u1").await["roles"], json!(["admin"]));
    assert_eq!(s.get("/public/recipe/role/users?role=admin").await["users"], json!(["u1"]));
    s.post("/recipe/role/permissions/remove", json!({"role": "admin", "permissions": ["delete"]})).await;
    assert_eq!(s.get("/recipe/role/permissions?role=admin").await["permissions"].as_array().unwrap().len(), 2);
    assert_eq!(
        s.post("/public/recipe/user/role/remove", json!({"userId": "u1", "role": "admin"})).await["didUserHaveRole"],
        true
    );
    assert_eq!(s.post("/recipe/role/remove", json!({"role": "admin"})).await["didRoleExist"], true);
    assert_eq!(s.get("/recipe/roles").await["roles"], json!([]));
    // Java's trim: a control character is trimmed away, a no-break space is kept.
    let (st, body) = s.request("PUT", "/recipe/role", Some(json!({"role": "\u{1}"})), &[]).await;
    assert_eq!((st, body.trim_end()), (400, "Field name 'role' cannot be an empty String"));
    assert_eq!(s.put("/recipe/role", json!({"role": "nbsp\u{a0}"})).await["createdNewRole"], true);
    assert_eq!(s.get("/recipe/roles").await["roles"], json!(["nbsp\u{a0}"]));
    assert_eq!(s.post("/recipe/role/remove", json!({"role": "nbsp\u{a0}"})).await["didRoleExist"], true);
    // Permissions are checked one by one: the empty one comes before the non-string.
    let (st, body) = s.request("PUT", "/recipe/role", Some(json!({"role": "r", "permissions": [" ", 1]})), &[]).await;
    assert_eq!((st, body.trim_end()), (400, "Field name 'permissions' cannot contain an empty string"));
    let (st, body) = s.request("PUT", "/recipe/role", Some(json!({"role": "r", "permissions": [1, " "]})), &[]).await;
    assert_eq!((st, body.trim_end()), (400, "Field name 'permissions' is invalid in JSON input"));
    s.stop().await;
}

/// Input rules of the roles endpoints (§a.12).
async fn input_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    // Role and permission names are trimmed; empty ones are refused.
    s.put("/recipe/role", json!({"role": " admin ", "permissions": [" read "]})).await;
    assert_eq!(s.get("/recipe/roles").await["roles"], json!(["admin"]));
    assert_eq!(s.get("/recipe/role/permissions?role=%20admin").await["permissions"], json!(["read"]));
    assert_eq!(
        s.status_and_text("PUT", "/recipe/role", Some(json!({"role": "  "}))).await,
        (400, "Field name 'role' cannot be an empty String".to_string())
    );
    assert_eq!(
        s.status_and_text("PUT", "/recipe/role", Some(json!({"role": "x", "permissions": ["a", " "]}))).await,
        (400, "Field name 'permissions' cannot contain an empty string".to_string())
    );
    assert_eq!(
        s.status_and_text("PUT", "/public/recipe/user/role", Some(json!({"userId": "u", "role": ""}))).await,
        (400, "Field name 'role' cannot be an empty String".to_string())
    );
    assert_eq!(s.put("/public/recipe/user/role", json!({"userId": "u", "role": "admin "})).await["status"], "OK");
    s.stop().await;
}

st_tests::both_backends! {
    roles_permissions_and_users => roles_permissions_and_users;
    input_rules => input_rules;
}
