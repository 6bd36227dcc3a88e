//! Concurrent primary-user creations and links, on one instance and on two instances sharing a
//! PostgreSQL database.

use super::*;

/// Concurrent primary creations of users sharing an e-mail and concurrent links of one user to
/// two primary users, through `servers` (two instances on one database on PostgreSQL): one
/// primary user holds the e-mail, the user is in one group.
async fn race(servers: &[&TestServer]) {
    let s = servers[0];
    for round in 0..3 {
        let email = format!("race{round}@example.com");
        let a = id_of(&ep_up(s, "public", &email).await);
        let t = id_of(&tp_up(s, "public", "google", &format!("g-race{round}"), &email).await);
        let p = id_of(&pl_up(s, "public", json!({"email": email})).await);
        let ids = [a.clone(), t.clone(), p.clone()];
        let answers =
            futures_join(ids.iter().enumerate().map(|(i, id)| make_primary(servers[i % servers.len()], id))).await;
        let ok = answers.iter().filter(|r| r["status"] == "OK").count();
        assert_eq!(ok, 1, "round {round}: {answers:?}");
        let primaries = futures_join(ids.iter().map(|id| user(s, id))).await;
        assert_eq!(primaries.iter().filter(|u| u["isPrimaryUser"] == true).count(), 1);

        // One recipe user, two primary users, two links at once.
        let p1 = id_of(&ep_up(s, "public", &format!("p1-{round}@example.com")).await);
        let p2 = id_of(&ep_up(s, "public", &format!("p2-{round}@example.com")).await);
        let r = id_of(&tp_up(s, "public", "github", &format!("h-race{round}"), &format!("r{round}@example.com")).await);
        make_primary(s, &p1).await;
        make_primary(s, &p2).await;
        let answers =
            futures_join([&p1, &p2].iter().enumerate().map(|(i, p)| link(servers[i % servers.len()], &r, p))).await;
        let ok = answers.iter().filter(|a| a["status"] == "OK").count();
        assert_eq!(ok, 1, "round {round}: {answers:?}");
        let g = user(s, &r).await;
        assert_eq!(methods(&g).len(), 2);

        // Two linkings into one group of users holding one e-mail, and a primary creation of a
        // third holder at once: at most one primary user holds the e-mail.
        let e = format!("shared{round}@example.com");
        let x = id_of(&ep_up(s, "public", &e).await);
        let y = id_of(&tp_up(s, "public", "google", &format!("g-shared{round}"), &e).await);
        let z = id_of(&pl_up(s, "public", json!({"email": e})).await);
        let answers = futures_join([
            Box::pin(link(servers[0], &x, &p1)) as std::pin::Pin<Box<dyn std::future::Future<Output = Value>>>,
            Box::pin(link(servers[servers.len() - 1], &y, &p2)),
            Box::pin(make_primary(servers[0], &z)),
        ])
        .await;
        let ok = answers.iter().filter(|a| a["status"] == "OK").count();
        assert_eq!(ok, 1, "round {round}: {answers:?}");
        let holders = futures_join([&x, &y, &z].iter().map(|id| user(s, id))).await;
        let mut groups: Vec<&str> =
            holders.iter().filter(|u| u["isPrimaryUser"] == true).map(|u| u["id"].as_str().unwrap()).collect();
        groups.dedup();
        assert_eq!(groups.len(), 1, "{holders:?}");

        // A primary user's e-mail change to a user's e-mail while that user becomes primary.
        let m = id_of(&ep_up(s, "public", &format!("m{round}@example.com")).await);
        make_primary(s, &m).await;
        let n = id_of(&tp_up(s, "public", "github", &format!("n-race{round}"), &format!("n{round}@example.com")).await);
        let body = json!({"recipeUserId": m, "email": format!("n{round}@example.com")});
        let answers = futures_join([
            Box::pin(servers[0].put("/recipe/user", body))
                as std::pin::Pin<Box<dyn std::future::Future<Output = Value>>>,
            Box::pin(make_primary(servers[servers.len() - 1], &n)),
        ])
        .await;
        let ok = answers.iter().filter(|a| a["status"] == "OK").count();
        assert_eq!(ok, 1, "round {round}: {answers:?}");
    }
}

/// Poll futures concurrently in this task, answers in order.
async fn futures_join<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

pub(super) async fn concurrent_linking(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    race(&[&s]).await;
}

/// Two server processes on one PostgreSQL database, the racing requests spread over both. A
/// trigger makes every write of a user's group row wait 100 ms before it happens, so that each
/// racing intent reads while the others' writes are pending: without the locks that decide them
/// one after the other, all of them would see no primary user and write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_linking_on_two_instances_on_postgres() {
    let Some(s1) = TestServer::spawn(Backend::Postgres, cheap_hashing()).await else { return };
    let Some(s2) = TestServer::spawn_on(Backend::Postgres, cheap_hashing(), s1.db_url.clone()).await else { return };
    let (client, conn) = tokio_postgres::connect(s1.db_url.as_ref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE FUNCTION slow_group_write() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN PERFORM pg_sleep(0.1); RETURN NEW; END $$;
             CREATE TRIGGER slow_group_write BEFORE UPDATE ON app_id_to_user_id
               FOR EACH ROW EXECUTE FUNCTION slow_group_write();",
        )
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    race(&[&s1, &s2]).await;
}
