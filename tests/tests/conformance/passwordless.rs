//! [`PasswordlessStorage`]: devices and codes (unique ids and link-code hashes per tenant,
//! lookups, removals, the expiry job), the judging of a submitted code under the device's lock
//! (concurrent failures all count, a consume takes every device of the contact, a removed
//! device is gone for a consume waiting on it), and passwordless users (unique e-mail and
//! phone number per tenant, look-ups, updates that clear and set, the devices an update or a
//! removal takes with it, the users' place in listing and counting).

use crate::helpers::*;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;

/// A 43-character device id hash, as the reference makes them (the column is `CHAR(44)`).
fn hash(n: u32) -> String {
    format!("{:A>43}", format!("dev{n}"))
}

fn device(n: u32, email: Option<&str>, phone: Option<&str>) -> PasswordlessDevice {
    PasswordlessDevice {
        device_id_hash: hash(n),
        email: email.map(str::to_string),
        phone_number: phone.map(str::to_string),
        link_code_salt: format!("{:s>43}=", n),
        failed_attempts: 0,
    }
}

fn code(n: u32, device: u32, created_at: i64) -> PasswordlessCode {
    PasswordlessCode {
        code_id: uid(1000 + n),
        device_id_hash: hash(device),
        link_code_hash: format!("{:L>43}=", format!("link{n}")),
        created_at,
    }
}

/// A decider that always does `action`.
fn always(
    action: CodeAction,
) -> impl Fn(Option<&PasswordlessDevice>, Option<&PasswordlessCode>) -> CodeAction + Send + Sync {
    move |_, _| action
}

async fn devices_and_codes(st: &dyn Storage) {
    add_tenant(st, "public", "t2").await;
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    let d1 = device(1, Some("a@x.com"), None);
    assert_eq!(st.create_passwordless_device(&base, &d1, &code(1, 1, 100)).await.unwrap(), CreateCodeResult::Created);
    // Taken device id hash, code id, link-code hash.
    let again = st.create_passwordless_device(&base, &d1, &code(2, 1, 100)).await.unwrap();
    assert_eq!(again, CreateCodeResult::DuplicateId);
    let d2 = device(2, None, Some("+15550001"));
    let same_code_id = PasswordlessCode { device_id_hash: hash(2), ..code(1, 2, 100) };
    assert_eq!(st.create_passwordless_device(&base, &d2, &same_code_id).await.unwrap(), CreateCodeResult::DuplicateId);
    let same_link = PasswordlessCode { code_id: uid(1999), ..code(1, 2, 100) };
    assert_eq!(
        st.create_passwordless_device(&base, &d2, &same_link).await.unwrap(),
        CreateCodeResult::DuplicateLinkCodeHash
    );
    assert!(st.passwordless_device(&base, &hash(2)).await.unwrap().is_none(), "nothing of a refused flow stays");
    assert_eq!(st.create_passwordless_device(&base, &d2, &code(2, 2, 110)).await.unwrap(), CreateCodeResult::Created);
    // The same link-code hash in another tenant is another code.
    assert_eq!(st.create_passwordless_device(&t2, &d1, &code(1, 1, 100)).await.unwrap(), CreateCodeResult::Created);
    assert!(is_not_found(&st.create_passwordless_device(&tid("public", "nope"), &d1, &code(5, 1, 1)).await));
    // More codes of a device.
    assert_eq!(st.create_passwordless_code(&base, &code(3, 1, 120)).await.unwrap(), CreateCodeResult::Created);
    assert_eq!(st.create_passwordless_code(&base, &code(3, 1, 120)).await.unwrap(), CreateCodeResult::DuplicateId);
    let link_taken = PasswordlessCode { code_id: uid(1998), ..code(3, 1, 120) };
    assert_eq!(st.create_passwordless_code(&base, &link_taken).await.unwrap(), CreateCodeResult::DuplicateLinkCodeHash);
    assert_eq!(st.create_passwordless_code(&base, &code(4, 9, 120)).await.unwrap(), CreateCodeResult::UnknownDevice);

    // Reads: the hash comes back as written (no CHAR padding), codes in creation order.
    let got = st.passwordless_device(&base, &hash(1)).await.unwrap().unwrap();
    assert_eq!(got, DeviceWithCodes { device: d1.clone(), codes: vec![code(1, 1, 100), code(3, 1, 120)] });
    assert_eq!(st.passwordless_devices_of(&base, &Contact::Email("a@x.com".into())).await.unwrap(), vec![got]);
    let by_phone = st.passwordless_devices_of(&base, &Contact::Phone("+15550001".into())).await.unwrap();
    assert_eq!(by_phone, vec![DeviceWithCodes { device: d2.clone(), codes: vec![code(2, 2, 110)] }]);
    assert!(st.passwordless_devices_of(&base, &Contact::Email("+15550001".into())).await.unwrap().is_empty());
    let link = code(3, 1, 120).link_code_hash;
    assert_eq!(st.passwordless_code_by_link_hash(&base, &link).await.unwrap(), Some(code(3, 1, 120)));
    assert_eq!(st.passwordless_code_by_link_hash(&t2, &link).await.unwrap(), None);

    // Removing a code keeps its device while it has another; the last one takes the device.
    st.remove_passwordless_code(&base, &uid(1001)).await.unwrap();
    assert_eq!(st.passwordless_device(&base, &hash(1)).await.unwrap().unwrap().codes, vec![code(3, 1, 120)]);
    st.remove_passwordless_code(&base, &uid(1001)).await.unwrap();
    st.remove_passwordless_code(&base, &uid(1003)).await.unwrap();
    assert!(st.passwordless_device(&base, &hash(1)).await.unwrap().is_none());
    assert!(st.passwordless_device(&t2, &hash(1)).await.unwrap().is_some(), "other tenant untouched");
    st.remove_passwordless_device(&base, &hash(2)).await.unwrap();
    assert!(st.passwordless_code_by_link_hash(&base, &code(2, 2, 110).link_code_hash).await.unwrap().is_none());
    // By contact: every device of the e-mail in the tenant, nothing else.
    for n in 10..13 {
        let d = device(n, Some("b@x.com"), None);
        st.create_passwordless_device(&base, &d, &code(n, n, 100)).await.unwrap();
    }
    st.create_passwordless_device(&base, &device(13, Some("c@x.com"), None), &code(13, 13, 100)).await.unwrap();
    assert_eq!(st.passwordless_devices_of(&base, &Contact::Email("b@x.com".into())).await.unwrap().len(), 3);
    st.remove_passwordless_devices_of(&base, &Contact::Email("b@x.com".into())).await.unwrap();
    assert!(st.passwordless_devices_of(&base, &Contact::Email("b@x.com".into())).await.unwrap().is_empty());
    assert!(st.passwordless_device(&base, &hash(13)).await.unwrap().is_some());

    // The expiry job: devices whose codes are all older than the cut-off.
    st.create_passwordless_device(&base, &device(20, Some("e@x.com"), None), &code(20, 20, 10)).await.unwrap();
    st.create_passwordless_device(&base, &device(21, Some("e@x.com"), None), &code(21, 21, 10)).await.unwrap();
    st.create_passwordless_code(&base, &code(22, 21, 500)).await.unwrap();
    assert_eq!(st.delete_expired_passwordless_devices(&base, 101).await.unwrap(), 2, "devices 13 and 20");
    assert!(st.passwordless_device(&base, &hash(20)).await.unwrap().is_none());
    assert!(st.passwordless_device(&base, &hash(13)).await.unwrap().is_none());
    let kept = st.passwordless_device(&base, &hash(21)).await.unwrap().unwrap();
    assert_eq!(kept.codes.len(), 2, "a live code keeps its device and its expired codes");
    assert_eq!(st.delete_expired_passwordless_devices(&t2, 1000).await.unwrap(), 1);
    assert!(st.passwordless_device(&base, &hash(21)).await.unwrap().is_some(), "per tenant");
}

/// Judging under the device's lock: each decision sees the device as the previous one left
/// it, so concurrent failures all count; a consume removes every device of the contact.
async fn judging_codes(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    st.create_passwordless_device(&base, &device(1, Some("a@x.com"), None), &code(1, 1, 100)).await.unwrap();
    st.create_passwordless_device(&base, &device(2, Some("a@x.com"), None), &code(2, 2, 100)).await.unwrap();
    st.create_passwordless_device(&base, &device(3, Some("z@x.com"), None), &code(3, 3, 100)).await.unwrap();
    let link1 = code(1, 1, 100).link_code_hash;
    // What the decider is shown: the device and the code with the hash.
    let seen = std::sync::Mutex::new(Vec::new());
    let record = |d: Option<&PasswordlessDevice>, c: Option<&PasswordlessCode>| {
        seen.lock().unwrap().push((d.map(|d| d.failed_attempts), c.map(|c| c.code_id.clone())));
        CodeAction::Keep
    };
    let (d, c) = st.judge_passwordless_code(&base, &hash(1), &link1, &record).await.unwrap();
    assert_eq!((d.unwrap().failed_attempts, c), (0, Some(code(1, 1, 100))));
    let (_, c) = st.judge_passwordless_code(&base, &hash(1), "no-such-link", &record).await.unwrap();
    assert_eq!(c, None);
    assert_eq!(*seen.lock().unwrap(), vec![(Some(0), Some(uid(1001))), (Some(0), None)]);

    // Concurrent failures: each counts.
    let fail = always(CodeAction::CountFailure);
    let h1 = hash(1);
    let results = join_all((0..4).map(|_| st.judge_passwordless_code(&base, &h1, "wrong", &fail)).collect()).await;
    let mut before: Vec<i32> = results.into_iter().map(|r| r.unwrap().0.unwrap().failed_attempts).collect();
    before.sort_unstable();
    assert_eq!(before, vec![0, 1, 2, 3], "each decision saw the previous one's count");
    assert_eq!(st.passwordless_device(&base, &hash(1)).await.unwrap().unwrap().device.failed_attempts, 4);

    // Too many: the device goes.
    st.judge_passwordless_code(&base, &hash(1), "wrong", &always(CodeAction::DeleteDevice)).await.unwrap();
    assert!(st.passwordless_device(&base, &hash(1)).await.unwrap().is_none());
    let (d, _) = st.judge_passwordless_code(&base, &hash(1), &link1, &always(CodeAction::Keep)).await.unwrap();
    assert_eq!(d, None, "a removed device is judged as none");

    // A consume takes every device of the contact, not others.
    st.create_passwordless_device(&base, &device(4, Some("a@x.com"), None), &code(4, 4, 100)).await.unwrap();
    let consume = always(CodeAction::DeleteDevicesOfContact);
    let link2 = code(2, 2, 100).link_code_hash;
    let (d, _) = st.judge_passwordless_code(&base, &hash(2), &link2, &consume).await.unwrap();
    assert_eq!(d.unwrap().email.as_deref(), Some("a@x.com"));
    assert!(st.passwordless_devices_of(&base, &Contact::Email("a@x.com".into())).await.unwrap().is_empty());
    assert!(st.passwordless_device(&base, &hash(3)).await.unwrap().is_some());
}

/// Two consumes of two devices of one e-mail at once: no deadlock, and exactly one of them
/// finds its device (the other's was taken with the contact's devices).
async fn concurrent_consumes_of_one_contact(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    let consume = always(CodeAction::DeleteDevicesOfContact);
    for round in 0..5u32 {
        let (a, b) = (100 + 2 * round, 101 + 2 * round);
        let email = format!("r{round}@x.com");
        for n in [a, b] {
            st.create_passwordless_device(&base, &device(n, Some(&email), None), &code(n, n, 100)).await.unwrap();
        }
        let (la, lb) = (code(a, a, 100).link_code_hash, code(b, b, 100).link_code_hash);
        let (ha, hb) = (hash(a), hash(b));
        let got = join_all(vec![
            st.judge_passwordless_code(&base, &ha, &la, &consume),
            st.judge_passwordless_code(&base, &hb, &lb, &consume),
        ])
        .await;
        let found = got.into_iter().map(|r| r.expect("no deadlock")).filter(|(d, _)| d.is_some()).count();
        assert_eq!(found, 1, "round {round}");
    }
}

async fn passwordless_users(st: &dyn Storage) {
    add_tenant(st, "public", "t2").await;
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    let app = AppId::public();
    let create = |t: &TenantIdentifier, n: u32, email: Option<&'static str>, phone: Option<&'static str>| {
        let t = t.clone();
        async move { st.create_passwordless_user(&t, &uid(n), email, phone, 10 + n as i64).await.unwrap() }
    };
    assert_eq!(create(&base, 1, Some("a@x.com"), None).await, CreatePasswordlessUserResult::Created);
    assert_eq!(create(&base, 2, None, Some("+15550002")).await, CreatePasswordlessUserResult::Created);
    assert_eq!(create(&base, 3, Some("a@x.com"), None).await, CreatePasswordlessUserResult::EmailAlreadyExists);
    assert_eq!(create(&base, 3, None, Some("+15550002")).await, CreatePasswordlessUserResult::PhoneNumberAlreadyExists);
    assert_eq!(create(&t2, 3, Some("a@x.com"), Some("+15550002")).await, CreatePasswordlessUserResult::Created);
    assert!(st.get_auth_user(&app, &uid(4)).await.unwrap().is_none(), "a refused user leaves nothing");
    assert!(is_not_found(
        &st.create_passwordless_user(&tid("public", "nope"), &uid(5), Some("q@x.com"), None, 1).await
    ));
    // An email-password user with the same e-mail is another recipe's.
    let ep = st.sign_up_with_password(&base, &uid(6), "a@x.com", "h", 16).await.unwrap();
    assert_eq!(ep, SignUpResult::Created);

    let user = st.get_auth_user(&app, &uid(2)).await.unwrap().unwrap();
    assert_eq!(
        user.login_methods,
        vec![LoginMethod {
            recipe_id: "passwordless".into(),
            recipe_user_id: uid(2),
            tenant_ids: vec!["public".into()],
            time_joined: 12,
            email: None,
            phone_number: Some("+15550002".into()),
            third_party: None,
        }]
    );
    assert_eq!(st.passwordless_user_of(&base, &Contact::Email("a@x.com".into())).await.unwrap(), Some(uid(1)));
    assert_eq!(st.passwordless_user_of(&t2, &Contact::Phone("+15550002".into())).await.unwrap(), Some(uid(3)));
    assert_eq!(st.passwordless_user_of(&base, &Contact::Phone("+1".into())).await.unwrap(), None);
    assert_eq!(st.users_by_phone_number(&base, "+15550002").await.unwrap(), vec![uid(2)]);
    assert_eq!(st.users_by_phone_number(&t2, "+15550002").await.unwrap(), vec![uid(3)]);
    assert_eq!(st.users_by_email(&base, "a@x.com").await.unwrap(), vec![uid(1), uid(6)]);
    assert_eq!(st.count_users(&app, Some(&base), &["passwordless".to_string()]).await.unwrap(), 2);
    assert_eq!(st.count_users(&app, None, &["passwordless".to_string()]).await.unwrap(), 3);

    // Search tags: e-mail and phone on the same login method.
    let search = |emails: &[&str], phones: &[&str]| UserListQuery {
        limit: 100,
        email_prefixes: emails.iter().map(|s| s.to_string()).collect(),
        phone_prefixes: phones.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let ids = |rows: Vec<(String, i64)>| rows.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    assert_eq!(ids(st.list_users(&base, &search(&[], &["+1555"])).await.unwrap()), vec![uid(2)]);
    assert_eq!(ids(st.list_users(&base, &search(&["a@"], &[])).await.unwrap()), vec![uid(6), uid(1)]);
    assert!(st.list_users(&base, &search(&["a@"], &["+1555"])).await.unwrap().is_empty());
    assert_eq!(ids(st.list_users(&t2, &search(&["a@"], &["+1555"])).await.unwrap()), vec![uid(3)]);

    // Updates: set, clear (absent leaves), uniqueness in each tenant of the user.
    let app_ref = &app;
    let upd = |n: u32, e: FieldUpdate<'static>, p: FieldUpdate<'static>| async move {
        st.update_passwordless_user(app_ref, &uid(n), e, p).await.unwrap()
    };
    assert_eq!(upd(1, None, Some(Some("+15550002"))).await, PasswordlessUpdateResult::PhoneNumberAlreadyExists);
    assert_eq!(upd(2, Some(Some("a@x.com")), None).await, PasswordlessUpdateResult::EmailAlreadyExists);
    assert_eq!(upd(9, Some(Some("n@x.com")), None).await, PasswordlessUpdateResult::UnknownUser);
    assert_eq!(upd(6, Some(Some("n@x.com")), None).await, PasswordlessUpdateResult::UnknownUser, "not passwordless");
    // The devices of the old and the new value go; others stay.
    for (n, email) in [(1, "a@x.com"), (2, "b@x.com"), (3, "keep@x.com")] {
        st.create_passwordless_device(&base, &device(n, Some(email), None), &code(n, n, 100)).await.unwrap();
    }
    st.create_passwordless_device(&t2, &device(4, Some("a@x.com"), None), &code(4, 4, 100)).await.unwrap();
    assert_eq!(upd(1, Some(Some("b@x.com")), Some(Some("+15550001"))).await, PasswordlessUpdateResult::Ok);
    assert!(st.passwordless_device(&base, &hash(1)).await.unwrap().is_none(), "old e-mail's device");
    assert!(st.passwordless_device(&base, &hash(2)).await.unwrap().is_none(), "new e-mail's device");
    assert!(st.passwordless_device(&base, &hash(3)).await.unwrap().is_some());
    assert!(st.passwordless_device(&t2, &hash(4)).await.unwrap().is_some(), "a tenant the user is not in");
    let m = &st.get_auth_user(&app, &uid(1)).await.unwrap().unwrap().login_methods[0];
    assert_eq!((m.email.as_deref(), m.phone_number.as_deref()), (Some("b@x.com"), Some("+15550001")));
    assert_eq!(upd(1, Some(None), None).await, PasswordlessUpdateResult::Ok);
    let m = &st.get_auth_user(&app, &uid(1)).await.unwrap().unwrap().login_methods[0];
    assert_eq!((m.email.as_deref(), m.phone_number.as_deref()), (None, Some("+15550001")));
    assert_eq!(st.passwordless_user_of(&base, &Contact::Email("b@x.com".into())).await.unwrap(), None);
    assert_eq!(st.passwordless_user_of(&base, &Contact::Phone("+15550001".into())).await.unwrap(), Some(uid(1)));

    // Removing a user takes the devices of its contacts in its tenants.
    st.create_passwordless_device(&base, &device(5, None, Some("+15550001")), &code(5, 5, 100)).await.unwrap();
    st.create_passwordless_device(&t2, &device(6, None, Some("+15550001")), &code(6, 6, 100)).await.unwrap();
    st.delete_user(&app, &uid(1), &[uid(1)]).await.unwrap();
    assert!(st.get_auth_user(&app, &uid(1)).await.unwrap().is_none());
    assert!(st.passwordless_device(&base, &hash(5)).await.unwrap().is_none());
    assert!(st.passwordless_device(&t2, &hash(6)).await.unwrap().is_some());
    assert!(st.passwordless_device(&base, &hash(3)).await.unwrap().is_some());
}

conformance! {
    devices_and_codes,
    judging_codes,
    concurrent_consumes_of_one_contact,
    passwordless_users,
}
