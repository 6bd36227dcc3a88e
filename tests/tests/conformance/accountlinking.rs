//! [`AccountLinkingStorage`]: the state the decisions see (the groups, the primary users
//! holding their account infos), primary users, links and unlinks as the auth-recipe intents
//! then see them (groups, look-ups, pages by the group's time joined, counts, sessions'
//! identity, removal), and concurrent intents decided one after the other.

use crate::helpers::*;
use st_core::accountlinking::{decide_link, decide_primary, decide_unlink};
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use std::sync::{Arc, Mutex};

/// An e-mail-password, a third-party and a passwordless user of `tenant`.
async fn ep(st: &dyn Storage, t: &TenantIdentifier, n: u32, email: &str, at: i64) {
    assert_eq!(st.sign_up_with_password(t, &uid(n), email, "hash", at).await.unwrap(), SignUpResult::Created);
}

async fn tp(st: &dyn Storage, t: &TenantIdentifier, n: u32, pair: (&str, &str), email: &str, at: i64) {
    let r = st.third_party_sign_up(t, &uid(n), pair.0, pair.1, email, at).await.unwrap();
    assert_eq!(r, ThirdPartySignUp::Created);
}

async fn pl(st: &dyn Storage, t: &TenantIdentifier, n: u32, email: Option<&str>, phone: Option<&str>, at: i64) {
    let r = st.create_passwordless_user(t, &uid(n), email, phone, at).await.unwrap();
    assert_eq!(r, CreatePasswordlessUserResult::Created);
}

fn make(_: &LinkingState) -> PrimaryDecision {
    PrimaryDecision::Make
}

fn ids(user: &AuthUser) -> (String, bool, Vec<String>) {
    (user.id.clone(), user.is_primary, user.login_methods.iter().map(|m| m.recipe_user_id.clone()).collect())
}

async fn group(st: &dyn Storage, n: u32) -> (String, bool, Vec<String>) {
    ids(&st.get_auth_user(&AppId::public(), &uid(n)).await.unwrap().unwrap())
}

/// Primary users, links and unlinks, and what the other intents see of them.
async fn primary_users_links_and_unlinks(st: &dyn Storage) {
    let (app, base) = (AppId::public(), TenantIdentifier::base());
    ep(st, &base, 1, "a@x.com", 10).await;
    tp(st, &base, 2, ("google", "g2"), "a@x.com", 5).await;
    pl(st, &base, 3, None, Some("+15550001"), 20).await;

    // The state: the user's group; no other primary user holds its e-mail yet.
    let state = st.linking_state(&app, &uid(1), None).await.unwrap().unwrap();
    assert_eq!((ids(&state.recipe), state.primary, state.others.len()), ((uid(1), false, vec![uid(1)]), None, 0));
    assert_eq!(st.linking_state(&app, &uid(9), None).await.unwrap(), None);
    assert_eq!(st.linking_state(&app, &uid(1), Some(&uid(9))).await.unwrap(), None);

    // A decision that writes nothing, then one that makes the user primary.
    let nothing = |_: &LinkingState| PrimaryDecision::AlreadyPrimary;
    assert_eq!(st.create_primary_user(&app, &uid(1), &nothing).await.unwrap(), Some(PrimaryDecision::AlreadyPrimary));
    assert_eq!(group(st, 1).await, (uid(1), false, vec![uid(1)]));
    assert_eq!(st.create_primary_user(&app, &uid(1), &make).await.unwrap(), Some(PrimaryDecision::Make));
    assert_eq!(group(st, 1).await, (uid(1), true, vec![uid(1)]));
    assert_eq!(st.create_primary_user(&app, &uid(9), &make).await.unwrap(), None);

    // The third-party user with that e-mail sees the primary user holding it.
    let state = st.linking_state(&app, &uid(2), Some(&uid(1))).await.unwrap().unwrap();
    assert_eq!(state.primary.as_ref().map(ids), Some((uid(1), true, vec![uid(1)])));
    assert!(state.others.is_empty(), "the primary user's own group is not another: {state:?}");
    let alone = st.linking_state(&app, &uid(2), None).await.unwrap().unwrap();
    assert_eq!(alone.others.iter().map(ids).collect::<Vec<_>>(), vec![(uid(1), true, vec![uid(1)])]);

    // Link it: one group, oldest login method first, the group's time joined the minimum.
    st.touch_user_last_active(&app, &uid(2), 100).await.unwrap();
    let link = |_: &LinkingState| LinkDecision::Link { primary_user_id: uid(1) };
    assert_eq!(
        st.link_accounts(&app, &uid(2), &uid(1), &link).await.unwrap(),
        Some(LinkDecision::Link { primary_user_id: uid(1) })
    );
    for n in [1, 2] {
        assert_eq!(group(st, n).await, (uid(1), true, vec![uid(2), uid(1)]));
    }
    // The recipe user's activity is its group's now.
    assert_eq!(st.count_active_users(&app, 0).await.unwrap(), 0);
    assert_eq!(st.link_accounts(&app, &uid(2), &uid(9), &link).await.unwrap(), None);
    let page = |asc: bool| UserListQuery { ascending: asc, limit: 10, ..Default::default() };
    assert_eq!(st.list_users(&base, &page(true)).await.unwrap(), vec![(uid(1), 5), (uid(3), 20)]);
    assert_eq!(st.count_users(&app, Some(&base), &[]).await.unwrap(), 2);
    assert_eq!(st.count_users(&app, None, &["thirdparty".into()]).await.unwrap(), 1);
    assert_eq!(st.users_by_email(&base, "a@x.com").await.unwrap(), vec![uid(1)]);
    assert_eq!(st.third_party_user(&base, "google", "g2").await.unwrap().unwrap().primary_user_id, uid(1));
    let identity = st.session_identity(&app, &uid(2)).await.unwrap().unwrap();
    assert_eq!((identity.recipe_user_id, identity.primary_user_id), (uid(2), uid(1)));
    let users = st.get_auth_users(&app, &[uid(2), uid(3), uid(1)]).await.unwrap();
    assert_eq!(users.iter().map(|u| u.id.clone()).collect::<Vec<_>>(), vec![uid(1), uid(3)]);

    // Unlink the linked method: standalone again, each group with its own time joined.
    let unlink = |_: &AuthUser| UnlinkDecision::Unlink;
    assert_eq!(st.unlink_account(&app, &uid(2), &unlink).await.unwrap(), Some(UnlinkDecision::Unlink));
    assert_eq!(group(st, 2).await, (uid(2), false, vec![uid(2)]));
    assert_eq!(group(st, 1).await, (uid(1), true, vec![uid(1)]));
    assert_eq!(st.list_users(&base, &page(true)).await.unwrap(), vec![(uid(2), 5), (uid(1), 10), (uid(3), 20)]);
    assert_eq!(st.unlink_account(&app, &uid(9), &unlink).await.unwrap(), None);

    // Link again, then unlink the primary's own method: it goes, its id keeps naming the group
    // (with the data keyed by it), the other method stays.
    st.link_accounts(&app, &uid(2), &uid(1), &link).await.unwrap();
    st.update_user_metadata(&app, &uid(1), &obj(serde_json::json!({"plan": "pro"}))).await.unwrap();
    let seen = Mutex::new(None);
    let remove = |g: &AuthUser| {
        *seen.lock().unwrap() = Some(ids(g));
        UnlinkDecision::RemoveMethod
    };
    assert_eq!(st.unlink_account(&app, &uid(1), &remove).await.unwrap(), Some(UnlinkDecision::RemoveMethod));
    assert_eq!(seen.lock().unwrap().clone(), Some((uid(1), true, vec![uid(2), uid(1)])));
    for n in [1, 2] {
        assert_eq!(group(st, n).await, (uid(1), true, vec![uid(2)]));
    }
    assert_eq!(st.password_user_by_email(&base, "a@x.com").await.unwrap(), None);
    assert!(st.get_user_metadata(&app, &uid(1)).await.unwrap().is_some());
    assert_eq!(st.list_users(&base, &page(true)).await.unwrap(), vec![(uid(1), 5), (uid(3), 20)]);
    assert_eq!(st.users_by_email(&base, "a@x.com").await.unwrap(), vec![uid(1)]);

    // Removing its last method takes the group's id and its data.
    st.delete_user(&app, &uid(2), &[uid(2)]).await.unwrap();
    assert_eq!(st.get_auth_user(&app, &uid(1)).await.unwrap(), None);
    assert_eq!(st.get_auth_user(&app, &uid(2)).await.unwrap(), None);
    assert_eq!(st.get_user_metadata(&app, &uid(1)).await.unwrap(), None);
    assert_eq!(st.list_users(&base, &page(true)).await.unwrap(), vec![(uid(3), 20)]);
}

/// The state a decision sees: the other primary users holding any account info of either
/// group, in any tenant (the decision judges the tenants), and not the users that are not
/// primary.
async fn decisions_see_the_holders(st: &dyn Storage) {
    let (app, base) = (AppId::public(), TenantIdentifier::base());
    add_tenant(st, "public", "t1").await;
    let t1 = tid("public", "t1");
    ep(st, &base, 1, "a@x.com", 1).await; // the primary user to link to
    pl(st, &t1, 2, Some("r@x.com"), Some("+15550002"), 2).await; // the recipe user
    ep(st, &t1, 3, "a@x.com", 3).await; // primary, holds the primary's e-mail in t1
    pl(st, &base, 4, None, Some("+15550002"), 4).await; // primary, holds the recipe user's phone
    tp(st, &base, 5, ("google", "g"), "r@x.com", 5).await; // not primary: not seen
    ep(st, &base, 6, "other@x.com", 6).await; // primary, nothing shared: not seen
    for n in [1, 3, 4, 6] {
        st.create_primary_user(&app, &uid(n), &make).await.unwrap();
    }
    let seen = Mutex::new(None);
    let record = |s: &LinkingState| {
        *seen.lock().unwrap() = Some(s.clone());
        decide_link(s)
    };
    let decision = st.link_accounts(&app, &uid(2), &uid(1), &record).await.unwrap().unwrap();
    let state = seen.lock().unwrap().clone().unwrap();
    let mut others: Vec<_> = state.others.iter().map(ids).collect();
    others.sort();
    assert_eq!(others, vec![(uid(3), true, vec![uid(3)]), (uid(4), true, vec![uid(4)])]);
    // The recipe user's account infos first (its phone number is another primary user's in
    // public, the primary user's tenant)...
    assert_eq!(
        decision,
        LinkDecision::Conflict(AccountInfoConflict { primary_user_id: uid(4), kind: AccountInfoKind::PhoneNumber })
    );
    // ... then the primary user's: its e-mail is another primary user's in t1, the recipe
    // user's tenant (the union of the tenants counts).
    st.delete_user(&app, &uid(4), &[uid(4)]).await.unwrap();
    let decision = st.link_accounts(&app, &uid(2), &uid(1), &record).await.unwrap().unwrap();
    assert_eq!(
        decision,
        LinkDecision::Conflict(AccountInfoConflict { primary_user_id: uid(3), kind: AccountInfoKind::Email })
    );
    assert_eq!(group(st, 2).await, (uid(2), false, vec![uid(2)]), "nothing written");
    // The same from the check, without a lock.
    let checked = st.linking_state(&app, &uid(2), Some(&uid(1))).await.unwrap().unwrap();
    assert_eq!(decide_link(&checked), decision);
}

/// Concurrent primary creations of users sharing an e-mail, and concurrent links of one user
/// to two primary users: exactly one wins each time, the others see it.
async fn concurrent_intents_one_winner(st: &Arc<dyn Storage>) {
    let (app, base) = (AppId::public(), TenantIdentifier::base());
    for round in 0..4u32 {
        let email = format!("r{round}@x.com");
        let n = 100 * (round + 1);
        ep(st.as_ref(), &base, n, &email, 1).await;
        tp(st.as_ref(), &base, n + 1, ("google", &format!("g{round}")), &email, 2).await;
        pl(st.as_ref(), &base, n + 2, Some(&email), None, 3).await;
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (st, app, id) = (st.clone(), app.clone(), uid(n + i));
                tokio::spawn(async move {
                    let decide = |s: &LinkingState| decide_primary(&id, s);
                    st.create_primary_user(&app, &id, &decide).await.unwrap().unwrap()
                })
            })
            .collect();
        let mut made = 0;
        for t in tasks {
            match t.await.unwrap() {
                PrimaryDecision::Make => made += 1,
                PrimaryDecision::Conflict(c) => assert_eq!(c.kind, AccountInfoKind::Email),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(made, 1, "round {round}");
        let primaries = st.get_auth_users(&app, &[uid(n), uid(n + 1), uid(n + 2)]).await.unwrap();
        assert_eq!(primaries.iter().filter(|u| u.is_primary).count(), 1);

        // Two primary users with other e-mails, one recipe user linked to both at once.
        ep(st.as_ref(), &base, n + 10, &format!("p{round}@x.com"), 4).await;
        ep(st.as_ref(), &base, n + 11, &format!("q{round}@x.com"), 5).await;
        tp(st.as_ref(), &base, n + 12, ("github", &format!("h{round}")), &format!("s{round}@x.com"), 6).await;
        for p in [n + 10, n + 11] {
            st.create_primary_user(&app, &uid(p), &make).await.unwrap();
        }
        let tasks: Vec<_> = [n + 10, n + 11]
            .into_iter()
            .map(|p| {
                let (st, app) = (st.clone(), app.clone());
                tokio::spawn(async move { st.link_accounts(&app, &uid(n + 12), &uid(p), &decide_link).await.unwrap() })
            })
            .collect();
        let mut decisions = Vec::new();
        for t in tasks {
            decisions.push(t.await.unwrap().unwrap());
        }
        let linked = decisions.iter().filter(|d| matches!(d, LinkDecision::Link { .. })).count();
        assert_eq!((linked, decisions.contains(&LinkDecision::LinkedToAnother)), (1, true), "{decisions:?}");
        let g = st.get_auth_user(&app, &uid(n + 12)).await.unwrap().unwrap();
        assert_eq!(g.login_methods.len(), 2);
        // Unlinking the same user twice at once: one unlinks, the other finds it standalone.
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (st, app) = (st.clone(), app.clone());
                tokio::spawn(async move {
                    let decide = |g: &AuthUser| decide_unlink(&uid(n + 12), g);
                    st.unlink_account(&app, &uid(n + 12), &decide).await.unwrap().unwrap()
                })
            })
            .collect();
        let mut decisions = Vec::new();
        for t in tasks {
            decisions.push(t.await.unwrap());
        }
        decisions.sort_by_key(|d| format!("{d:?}"));
        assert_eq!(decisions, vec![UnlinkDecision::NotLinked, UnlinkDecision::Unlink]);
    }
}

/// The recipes' e-mail and phone number updates apply the account-linking rule themselves: a
/// primary user's login method may not take an account info another primary user holds in one
/// of its tenants (checked first), a user that is not primary may.
async fn account_info_changes(st: &dyn Storage) {
    let (app, base) = (AppId::public(), TenantIdentifier::base());
    add_tenant(st, "public", "t1").await;
    let t1 = tid("public", "t1");
    ep(st, &base, 1, "a@x.com", 1).await;
    ep(st, &base, 2, "b@x.com", 2).await;
    ep(st, &t1, 3, "c@x.com", 3).await;
    tp(st, &base, 4, ("google", "g4"), "d@x.com", 4).await;
    pl(st, &base, 5, Some("e@x.com"), Some("+15550005"), 5).await;
    pl(st, &base, 6, None, Some("+15550006"), 6).await;
    for n in [1, 2, 3, 4, 5, 6] {
        st.create_primary_user(&app, &uid(n), &make).await.unwrap();
    }
    // E-mail-password: refused before the duplicate check; another tenant's holder is no conflict.
    let ids: Vec<String> = (0..10).map(uid).collect();
    let ep_update = |n: usize, email: &'static str| st.update_email_or_password(&app, &ids[n], Some(email), None);
    assert_eq!(ep_update(1, "b@x.com").await.unwrap(), UpdateResult::EmailChangeNotAllowed);
    assert_eq!(ep_update(1, "d@x.com").await.unwrap(), UpdateResult::EmailChangeNotAllowed);
    assert_eq!(ep_update(1, "c@x.com").await.unwrap(), UpdateResult::Ok);
    assert_eq!(ep_update(9, "z@x.com").await.unwrap(), UpdateResult::UnknownUser);
    // Third party: the signing-in login method's group decides; nothing is written when refused.
    let tp_update = |email: &'static str| st.update_third_party_email(&app, &ids[4], "google", "g4", email);
    assert_eq!(tp_update("b@x.com").await.unwrap(), ThirdPartyEmailUpdate::EmailChangeNotAllowed);
    assert_eq!(st.third_party_user(&base, "google", "g4").await.unwrap().unwrap().email, "d@x.com");
    assert_eq!(tp_update("f@x.com").await.unwrap(), ThirdPartyEmailUpdate::Updated(1));
    // Passwordless: the e-mail, then the phone number.
    let pl_update = |e: Option<&'static str>, p: Option<&'static str>| {
        st.update_passwordless_user(&app, &ids[5], e.map(Some), p.map(Some))
    };
    assert_eq!(pl_update(Some("b@x.com"), None).await.unwrap(), PasswordlessUpdateResult::EmailChangeNotAllowed);
    assert_eq!(
        pl_update(None, Some("+15550006")).await.unwrap(),
        PasswordlessUpdateResult::PhoneNumberChangeNotAllowed
    );
    assert_eq!(
        pl_update(Some("b@x.com"), Some("+15550006")).await.unwrap(),
        PasswordlessUpdateResult::EmailChangeNotAllowed
    );
    assert_eq!(pl_update(Some("g@x.com"), Some("+15550007")).await.unwrap(), PasswordlessUpdateResult::Ok);
    // Not a primary user: the rule does not apply.
    let unlink = |_: &AuthUser| UnlinkDecision::Unlink;
    st.unlink_account(&app, &uid(2), &unlink).await.unwrap();
    let to_a = st.update_email_or_password(&app, &uid(2), Some("f@x.com"), None).await.unwrap();
    assert_eq!(to_a, UpdateResult::Ok);
}

conformance!(
    primary_users_links_and_unlinks,
    decisions_see_the_holders,
    concurrent_intents_one_winner,
    account_info_changes
);
