//! Rooms at size (issue 15, item 6): with 200 000 events in one session,
//! joining it and `GET /sessions/{id}` stay fast. Ignored by default (it
//! stores 200 000 events); run by hand and record the figures in
//! docs/BENCHMARKS.md:
//!
//! ```text
//! cargo nextest run -p jiliang-server --run-ignored only --no-capture -E 'test(/rooms_bench::/)'
//! ```
//! (with `DATABASE_URL=postgres://…` for the PostgreSQL half).

use std::time::{Duration, Instant};

use jiliang_protocol::rooms::{Author, EventBody};
use jiliang_server::store::rooms::NewEvent;
use jiliang_server::store::testing;
use uuid::Uuid;

use crate::common::{Backend, TestServer};
use crate::rooms::{join, session};

const EVENTS: usize = 200_000;

/// The median of `n` timed runs of `f`.
async fn median<F, Fut>(n: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        f().await;
        times.push(t0.elapsed());
    }
    times.sort();
    times[n / 2]
}

fn uuid_literal(backend: Backend, id: Uuid) -> String {
    match backend {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'::uuid"),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn bench(backend: Backend) {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = session(&server, &expert).await;
    let names = ["李明华", "王工"];
    let ids = [server.user_id("expert").await, server.user_id("tech").await];
    let t0 = Instant::now();
    let mut ids_sample = Vec::new();
    for batch in 0..EVENTS / 500 {
        let events: Vec<NewEvent> = (0..500)
            .map(|i| {
                let k = batch * 500 + i;
                NewEvent {
                    session: id,
                    author: Some(Author {
                        id: ids[k % 2],
                        name: names[k % 2].into(),
                    }),
                    client_id: Some(format!("b{k}")),
                    body: EventBody::Chat {
                        text: format!("读数 {k}: 100.00{} g", k % 10),
                    },
                }
            })
            .collect();
        let out = server
            .state
            .store
            .append_events(&events)
            .await
            .expect("append");
        if batch % 40 == 0
            && let Some(jiliang_server::store::rooms::EventOutcome::New(e)) = out.first()
        {
            ids_sample.push(e.id);
        }
    }
    let filled = t0.elapsed();
    let store = &server.state.store;
    let sid = uuid_literal(backend, id);
    // What the server asked before issue 15: each participant's last
    // join/leave, by a subquery over the room's log.
    let old = format!(
        "SELECT u.id, (SELECT e.kind FROM room_events e WHERE e.session_id = {sid} AND e.author_id = u.id \
           AND e.kind IN ('join', 'leave') ORDER BY e.seq DESC LIMIT 1) AS presence \
         FROM users u WHERE u.id IN (SELECT user_id FROM session_participants WHERE session_id = {sid}) \
            OR (u.active = TRUE AND u.institution_id IN (SELECT institution_id FROM session_labs WHERE session_id = {sid}))"
    );
    let old_participants = median(5, || async {
        testing::fetch_rows(store, &old).await.expect("old query");
    })
    .await;
    let participants = median(5, || async {
        store.session_participants(id).await.expect("participants");
    })
    .await;
    let get = median(5, || async {
        let r = expert.get(&format!("/api/v1/sessions/{id}")).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.expect("body");
    })
    .await;
    let joining = median(5, || async {
        let (ws, snap) = join(&server.base, &tech, id, u64::MAX).await;
        assert!(snap["last_seq"].as_u64() >= Some(EVENTS as u64));
        drop(ws);
    })
    .await;
    let by_id = median(5, || async {
        for e in &ids_sample {
            store.event_session(*e).await.expect("lookup");
        }
    })
    .await;
    testing::execute(store, "DROP INDEX room_events_id")
        .await
        .expect("drop index");
    let by_id_unindexed = median(3, || async {
        for e in &ids_sample {
            store.event_session(*e).await.expect("lookup");
        }
    })
    .await;
    testing::execute(store, "CREATE INDEX room_events_id ON room_events (id)")
        .await
        .expect("index again");
    let n = ids_sample.len();
    eprintln!(
        "\n{backend:?}, {EVENTS} events in one session (stored in {filled:.1?}):\n\
         participants, old per-person subquery over the log: {}\n\
         participants, presence rows (now):                 {}\n\
         GET /sessions/{{id}}:                                {}\n\
         join (upgrade, join, snapshot):                    {}\n\
         {n} event lookups by id, with the index:           {}\n\
         {n} event lookups by id, without it:               {}\n",
        ms(old_participants),
        ms(participants),
        ms(get),
        ms(joining),
        ms(by_id),
        ms(by_id_unindexed),
    );
    assert!(
        get < Duration::from_millis(100),
        "GET /sessions/{{id}} took {get:?}"
    );
    assert!(
        joining < Duration::from_millis(200),
        "join took {joining:?}"
    );
    server.stop().await;
}

#[tokio::test]
#[ignore = "stores 200 000 events; run by hand (see the module docs)"]
async fn joins_and_session_reads_stay_fast_with_200k_events_sqlite() {
    bench(Backend::Sqlite).await;
}

#[tokio::test]
#[ignore = "stores 200 000 events; run by hand (see the module docs)"]
async fn joins_and_session_reads_stay_fast_with_200k_events_postgres() {
    if crate::common::postgres_url().is_none() {
        eprintln!("skipped: DATABASE_URL does not name a PostgreSQL server");
        return;
    }
    bench(Backend::Postgres).await;
}
