//! [`TotpStorage`]: devices (an unverified one of the same name replaced, a verified one kept,
//! listed by creation time, renamed, removed with the user on the last one), judgements of
//! codes run on the rows as locked (the newest code first, one per millisecond), concurrent
//! judgements of one user one after the other, per-tenant codes, and the expiry cron.

use crate::helpers::*;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

fn device(name: &str, verified: bool, created_at: i64) -> TotpDevice {
    TotpDevice {
        name: name.to_string(),
        secret_key: format!("SECRET{name}").to_uppercase(),
        period: 30,
        skew: 1,
        verified,
        created_at,
    }
}

fn used(code: &str, is_valid: bool, created: i64) -> TotpUsedCode {
    TotpUsedCode { code: code.to_string(), is_valid, expiry_time_ms: created + 90_000, created_time_ms: created }
}

fn names(devices: &[TotpDevice]) -> Vec<&str> {
    devices.iter().map(|d| d.name.as_str()).collect()
}

/// A judgement recording `code` (and verifying `verify`), whatever it sees.
fn record(code: TotpUsedCode, verify: Option<&str>) -> TotpJudgement {
    TotpJudgement { record: Some(code), verify_device: verify.map(str::to_string) }
}

async fn devices(st: &dyn Storage) {
    let app = AppId::public();
    assert_eq!(
        st.create_totp_device(&app, "u", &device("b", false, 20)).await.unwrap(),
        CreateTotpDeviceResult::Created
    );
    assert_eq!(
        st.create_totp_device(&app, "u", &device("a", true, 10)).await.unwrap(),
        CreateTotpDeviceResult::Created
    );
    assert_eq!(
        st.create_totp_device(&app, "u", &device("c", false, 20)).await.unwrap(),
        CreateTotpDeviceResult::Created
    );
    assert_eq!(names(&st.totp_devices(&app, "u").await.unwrap()), ["a", "b", "c"], "by creation time, then name");
    // A verified device keeps its name; an unverified one is replaced.
    let mut other = device("a", false, 30);
    other.secret_key = "OTHER".into();
    assert_eq!(st.create_totp_device(&app, "u", &other).await.unwrap(), CreateTotpDeviceResult::DeviceAlreadyExists);
    let mut replacing = device("b", false, 40);
    replacing.period = 60;
    assert_eq!(st.create_totp_device(&app, "u", &replacing).await.unwrap(), CreateTotpDeviceResult::Created);
    let listed = st.totp_devices(&app, "u").await.unwrap();
    assert_eq!(listed, vec![device("a", true, 10), device("c", false, 20), replacing.clone()]);
    // Other users and apps are apart; an unknown app is refused.
    add_app(st, "a1").await;
    st.create_totp_device(&app, "v", &device("a", false, 1)).await.unwrap();
    st.create_totp_device(&self::app("a1"), "u", &device("z", false, 1)).await.unwrap();
    assert_eq!(names(&st.totp_devices(&self::app("a1"), "u").await.unwrap()), ["z"]);
    assert!(is_not_found(&st.create_totp_device(&self::app("nope"), "u", &device("a", false, 1)).await));
    let many = st.totp_devices_of_users(&app, &["u".into(), "v".into(), "w".into()]).await.unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(names(&many["u"]), ["a", "c", "b"]);
    assert_eq!(names(&many["v"]), ["a"]);
    // Rename.
    assert_eq!(st.rename_totp_device(&app, "u", "c", "d").await.unwrap(), RenameTotpDeviceResult::Renamed);
    assert_eq!(st.rename_totp_device(&app, "u", "d", "a").await.unwrap(), RenameTotpDeviceResult::DeviceAlreadyExists);
    assert_eq!(st.rename_totp_device(&app, "u", "c", "e").await.unwrap(), RenameTotpDeviceResult::UnknownDevice);
    assert_eq!(st.rename_totp_device(&app, "w", "a", "e").await.unwrap(), RenameTotpDeviceResult::UnknownDevice);
    assert_eq!(st.rename_totp_device(&app, "u", "d", "d").await.unwrap(), RenameTotpDeviceResult::Renamed);
    let listed = st.totp_devices(&app, "u").await.unwrap();
    assert_eq!(names(&listed), ["a", "d", "b"]);
    assert_eq!((listed[1].created_at, listed[1].verified), (20, false), "a rename keeps the rest");
    // Removal; the last device takes the user with it, and its codes in every tenant.
    add_tenant(st, "public", "t1").await;
    let t1 = tid("public", "t1");
    let keep = |_: &[TotpDevice], _: &[TotpUsedCode]| record(used("111111", false, 5), None);
    st.judge_totp_code(&t1, "v", &keep).await.unwrap();
    assert!(st.remove_totp_device(&app, "u", "d").await.unwrap());
    assert!(!st.remove_totp_device(&app, "u", "d").await.unwrap());
    assert!(!st.remove_totp_device(&app, "w", "a").await.unwrap());
    assert_eq!(names(&st.totp_devices(&app, "u").await.unwrap()), ["a", "b"]);
    assert!(st.remove_totp_device(&app, "v", "a").await.unwrap());
    assert_eq!(st.totp_devices(&app, "v").await.unwrap(), vec![]);
    st.create_totp_device(&app, "v", &device("a", false, 1)).await.unwrap();
    let seen = Mutex::new(None);
    let look = |_: &[TotpDevice], codes: &[TotpUsedCode]| {
        *seen.lock().unwrap() = Some(codes.to_vec());
        TotpJudgement::default()
    };
    st.judge_totp_code(&t1, "v", &look).await.unwrap();
    assert_eq!(seen.lock().unwrap().take(), Some(vec![]), "the old user's codes went with it");
}

async fn judging_codes(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    add_tenant(st, "public", "t1").await;
    let t1 = tid("public", "t1");
    let app = AppId::public();
    // No devices: the judge sees nothing and nothing is recorded.
    let seen: Mutex<Vec<(Vec<TotpDevice>, Vec<TotpUsedCode>)>> = Mutex::new(Vec::new());
    let ask = |code: TotpUsedCode, verify: Option<&'static str>| {
        let seen = &seen;
        move |d: &[TotpDevice], u: &[TotpUsedCode]| {
            seen.lock().unwrap().push((d.to_vec(), u.to_vec()));
            record(code.clone(), verify)
        }
    };
    let j = ask(used("000000", true, 1), None);
    assert_eq!(st.judge_totp_code(&base, "u", &j).await.unwrap(), TotpRecordResult::NotRecorded);
    assert_eq!(seen.lock().unwrap().pop(), Some((vec![], vec![])));
    st.create_totp_device(&app, "u", &device("a", false, 1)).await.unwrap();
    st.create_totp_device(&app, "u", &device("b", true, 2)).await.unwrap();
    // Recorded, newest first afterwards; the device marked verified.
    let j = ask(used("111111", false, 100), None);
    assert_eq!(st.judge_totp_code(&base, "u", &j).await.unwrap(), TotpRecordResult::Recorded);
    let j = ask(used("222222", true, 200), Some("a"));
    assert_eq!(st.judge_totp_code(&base, "u", &j).await.unwrap(), TotpRecordResult::Recorded);
    assert!(st.totp_devices(&app, "u").await.unwrap().iter().all(|d| d.verified));
    let j = ask(used("333333", false, 150), None);
    assert_eq!(st.judge_totp_code(&base, "u", &j).await.unwrap(), TotpRecordResult::Recorded);
    let j = |_: &[TotpDevice], _: &[TotpUsedCode]| TotpJudgement::default();
    assert_eq!(st.judge_totp_code(&base, "u", &j).await.unwrap(), TotpRecordResult::NotRecorded);
    let (devices, codes) = seen.lock().unwrap().pop().unwrap();
    assert_eq!(names(&devices), ["a", "b"]);
    assert_eq!(codes, vec![used("222222", true, 200), used("111111", false, 100)], "newest first");
    let look = ask(used("444444", false, 200), Some("nope"));
    // One code per user, tenant and millisecond: the second is not recorded, and changes nothing.
    assert_eq!(st.judge_totp_code(&base, "u", &look).await.unwrap(), TotpRecordResult::SameMillisecond);
    let (_, codes) = seen.lock().unwrap().pop().unwrap();
    assert_eq!(codes, vec![used("222222", true, 200), used("333333", false, 150), used("111111", false, 100)]);
    // Codes are per tenant; an unknown tenant is refused.
    let j = ask(used("555555", true, 200), None);
    assert_eq!(st.judge_totp_code(&t1, "u", &j).await.unwrap(), TotpRecordResult::Recorded);
    assert_eq!(seen.lock().unwrap().pop().unwrap().1, vec![]);
    let j = ask(used("666666", true, 300), None);
    assert!(is_not_found(&st.judge_totp_code(&tid("public", "nope"), "u", &j).await));
    // The cron: the tenant's codes expired strictly before the cut-off.
    assert_eq!(st.delete_expired_totp_codes(&base, 100 + 90_000).await.unwrap(), 0);
    assert_eq!(st.delete_expired_totp_codes(&base, 150 + 90_001).await.unwrap(), 2);
    let j = ask(used("777777", false, 400), None);
    st.judge_totp_code(&base, "u", &j).await.unwrap();
    let (_, codes) = seen.lock().unwrap().pop().unwrap();
    assert_eq!(codes, vec![used("222222", true, 200)]);
    assert_eq!(st.delete_expired_totp_codes(&t1, i64::MAX).await.unwrap(), 1);
    // Removing the tenant removes its codes; the devices are the app's.
    let j = ask(used("888888", false, 500), None);
    st.judge_totp_code(&t1, "u", &j).await.unwrap();
    st.delete_tenant(&t1).await.unwrap();
    add_tenant(st, "public", "t1").await;
    let j = ask(used("999999", false, 600), None);
    st.judge_totp_code(&t1, "u", &j).await.unwrap();
    assert_eq!(seen.lock().unwrap().pop().unwrap().1, vec![], "the old tenant's codes are gone");
    assert_eq!(st.totp_devices(&app, "u").await.unwrap().len(), 2);
}

/// Concurrent judgements of one user are run one after the other on what the previous ones
/// recorded: of many submissions of one code, a judge accepting it only when unused accepts one.
async fn concurrent_judgements(st: &Arc<dyn Storage>) {
    let app = AppId::public();
    st.create_totp_device(&app, "u", &device("a", true, 1)).await.unwrap();
    let clock = Arc::new(AtomicI64::new(1000));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (st, clock) = (st.clone(), clock.clone());
        tasks.push(tokio::spawn(async move {
            let accepted = Mutex::new(false);
            let judge = |_: &[TotpDevice], codes: &[TotpUsedCode]| {
                let fresh = !codes.iter().any(|c| c.is_valid && c.code == "123456");
                *accepted.lock().unwrap() = fresh;
                record(used("123456", fresh, clock.fetch_add(1, Ordering::SeqCst)), None)
            };
            let r = st.judge_totp_code(&TenantIdentifier::base(), "u", &judge).await.unwrap();
            assert_eq!(r, TotpRecordResult::Recorded);
            let accepted = *accepted.lock().unwrap();
            accepted
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1);
    let seen = Mutex::new(0);
    let count = |_: &[TotpDevice], codes: &[TotpUsedCode]| {
        *seen.lock().unwrap() = codes.len();
        TotpJudgement::default()
    };
    st.judge_totp_code(&TenantIdentifier::base(), "u", &count).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), 12, "every judgement recorded its code");
}

conformance! {
    devices,
    judging_codes,
    concurrent_judgements,
}
