//! Accounts and HTTP under attack (issue 15): each test here fails without
//! the defence it names. See `docs/SECURITY.md`, "Accounts and HTTP".

use std::time::Duration;

use crate::common::{Client, DEMO_PASSWORD, TestDb, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

async fn events(admin: &Client, event: &str) -> Vec<Value> {
    let page = admin.json(&format!("/api/v1/audit?event={event}")).await;
    page["items"].as_array().cloned().unwrap_or_default()
}

fn id_of(v: &Value) -> Uuid {
    v["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {v}"))
}

async fn created(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body
}

// --- 1. Parallel guesses and the cost of hashing --------------------------

backend_tests!(
    a_burst_of_200_logins_checks_only_the_limit,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let anon = Client::new(&server.base);
        let mut tries = tokio::task::JoinSet::new();
        for i in 0..200 {
            let anon = anon.clone();
            // The right password comes with the last of them.
            let password = if i == 199 {
                DEMO_PASSWORD.to_owned()
            } else {
                format!("Guess-number-{i}")
            };
            tries.spawn(async move {
                let body = json!({"login": "tech", "password": password});
                let status = anon
                    .post("/api/v1/auth/login", &body)
                    .await
                    .status()
                    .as_u16();
                (i, status)
            });
        }
        let mut statuses = Vec::new();
        while let Some(r) = tries.join_next().await {
            statuses.push(r.expect("task"));
        }
        let checked: Vec<_> = statuses.iter().filter(|(_, s)| *s != 429).collect();
        assert!(
            checked.len() <= 5,
            "only the limit (5) may reach the password check, {} did: {checked:?}",
            checked.len()
        );
        assert!(
            statuses.iter().all(|(_, s)| *s != 200),
            "a guess past the limit logged in: {statuses:?}"
        );
        let admin = server.login("admin").await;
        let failed = events(&admin, "login_failed").await;
        assert!(failed.len() <= 5, "{} checks recorded", failed.len());
        // And the account stays locked for the right password too.
        let res = anon
            .post(
                "/api/v1/auth/login",
                &json!({"login": "tech", "password": DEMO_PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 429);
        server.stop().await;
    }
);

backend_tests!(
    hashing_is_bounded_and_overflow_is_a_503,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let server = TestServer::start_configured(db, |c| {
            c.password_hash_concurrency = 1;
            c.password_hash_wait_ms = 0;
        })
        .await;
        jiliang_server::demo::seed(&server.state.store)
            .await
            .expect("seed");
        let people = [
            "admin",
            "expert",
            "expert2",
            "tech",
            "gangu.tech",
            "tongwei.tech",
            "min.tech",
            "wen.tech",
        ];
        let mut tries = tokio::task::JoinSet::new();
        for who in people {
            let anon = Client::new(&server.base);
            tries.spawn(async move {
                let body = json!({"login": who, "password": DEMO_PASSWORD});
                let res = anon.post("/api/v1/auth/login", &body).await;
                let retry = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                (who, res.status().as_u16(), retry)
            });
        }
        let mut busy = Vec::new();
        while let Some(r) = tries.join_next().await {
            let (who, status, retry) = r.expect("task");
            assert!(matches!(status, 200 | 503), "{who}: {status}");
            if status == 503 {
                assert_eq!(retry.as_deref(), Some("1"), "503 says when to retry");
                busy.push(who);
            }
        }
        assert!(
            !busy.is_empty(),
            "eight logins at once with one hashing slot and no wait: some must be told to wait"
        );
        // A login turned away unchecked costs no attempt: each works on retry.
        for who in busy {
            Client::login(&server.base, who, DEMO_PASSWORD).await;
        }
        server.stop().await;
    }
);

// --- 7 and 11. Bounded fields, no stored typed logins, uniform refusals ----

backend_tests!(
    login_fields_are_bounded_and_typed_logins_never_stored,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let anon = Client::new(&server.base);
        let long_login = format!("{}@example.cn", "a".repeat(250));
        let res = anon
            .post(
                "/api/v1/auth/login",
                &json!({"login": long_login, "password": "x"}),
            )
            .await;
        assert_eq!(res.status(), 422);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["details"][0]["field"], "login", "{body}");
        let res = anon
            .post(
                "/api/v1/auth/login",
                &json!({"login": "tech", "password": "p".repeat(129)}),
            )
            .await;
        assert_eq!(res.status(), 422);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["details"][0]["field"], "password", "{body}");

        // A password typed into the login field is not kept anywhere readable.
        let typed = "My-Secret-Passw0rd";
        for _ in 0..4 {
            let res = anon
                .post(
                    "/api/v1/auth/login",
                    &json!({"login": typed, "password": "whatever-1"}),
                )
                .await;
            assert_eq!(res.status(), 401);
        }
        // Unknown logins lock like real accounts, on the same attempt: a lockout
        // tells nobody whether the account exists.
        let res = anon
            .post(
                "/api/v1/auth/login",
                &json!({"login": typed, "password": "whatever-1"}),
            )
            .await;
        assert_eq!(res.status(), 429);
        let national = server.login("nim.admin").await;
        let failed = events(&national, "login_failed").await;
        assert_eq!(failed.len(), 5);
        for e in &failed {
            let detail = e["detail"].as_str().expect("detail");
            assert!(detail.starts_with("unknown account fp:"), "{detail}");
            assert!(!detail.to_lowercase().contains("secret"), "{detail}");
        }
        assert_eq!(
            failed[0]["detail"], failed[4]["detail"],
            "one fingerprint per login"
        );
        // Nor in the throttle table: its key is the fingerprint too.
        let raw = jiliang_server::store::testing::execute(
            &server.state.store,
            "DELETE FROM login_throttle WHERE key LIKE '%ecret%'",
        )
        .await
        .expect("query");
        assert_eq!(raw, 0);
        server.stop().await;
    }
);

// --- 3. X-Forwarded-For ----------------------------------------------------

backend_tests!(
    forwarded_for_is_read_from_our_proxy_not_the_client,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let server = TestServer::start_configured(db, |c| c.trust_proxy_hops = 1).await;
        jiliang_server::demo::seed(&server.state.store)
            .await
            .expect("seed");
        let http = reqwest::Client::new();
        let attempt = |xff: String, login: String| {
            let http = http.clone();
            let url = server.url("/api/v1/auth/login");
            async move {
                http.post(url)
                    .header("x-forwarded-for", xff)
                    .json(&json!({"login": login, "password": "Not-the-password-1"}))
                    .send()
                    .await
                    .expect("request")
                    .status()
                    .as_u16()
            }
        };
        // The client writes a new address each time; the proxy appends the real one.
        for i in 0..29 {
            let s = attempt(format!("10.0.{i}.1, 203.0.113.7"), format!("nobody{i}")).await;
            assert_eq!(s, 401, "attempt {i}");
        }
        assert_eq!(
            attempt("10.9.9.9, 203.0.113.7".into(), "nobody-last".into()).await,
            429,
            "the 30th failure from the real address locks it"
        );
        assert_eq!(
            attempt("1.2.3.4, 203.0.113.7".into(), "someone".into()).await,
            429,
            "rotating the client-written part does not get past the lock"
        );
        assert_eq!(
            attempt("203.0.113.7, 198.51.100.9".into(), "other".into()).await,
            401,
            "a lab behind another address is not locked by writing the locked one"
        );
        let national = server.login("nim.admin").await;
        let failed = events(&national, "login_failed").await;
        assert_eq!(failed[0]["ip"], "198.51.100.9");
        assert!(
            failed
                .iter()
                .all(|e| e["ip"] != "10.9.9.9" && e["ip"] != "1.2.3.4")
        );
        server.stop().await;
    }
);

// --- 4. Reset links ----------------------------------------------------------

backend_tests!(
    newer_resets_and_password_changes_end_older_links,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let admin = server.login("admin").await;
        let wen = server.user_id("wen.tech").await;
        let issue = || async {
            let v = created(
                admin
                    .post(&format!("/api/v1/users/{wen}/password-reset"), &json!({}))
                    .await,
            )
            .await;
            let link = v["link"].as_str().expect("link").to_owned();
            link.rsplit('/').next().expect("token").to_owned()
        };
        let anon = Client::new(&server.base);
        let set = |token: String, password: &'static str| {
            let anon = anon.clone();
            async move {
                anon.post(
                    &format!("/api/v1/password-resets/{token}"),
                    &json!({"password": password}),
                )
                .await
                .status()
                .as_u16()
            }
        };
        // A newer reset ends the older link.
        let first = issue().await;
        let second = issue().await;
        assert_eq!(set(first.clone(), "Older-Link-2026").await, 410);
        // Two outstanding links (one planted as a race would leave it) — the
        // completed reset ends the other.
        let third = issue().await;
        let planted = plant_reset(&server, wen).await;
        assert_eq!(set(third, "Newest-Link-2026").await, 204);
        assert_eq!(set(planted, "Planted-Link-2026").await, 410);
        assert_eq!(set(second, "Second-Link-2026").await, 410);
        // A password change ends a link issued before it.
        let before_change = plant_reset(&server, wen).await;
        let me = Client::login(&server.base, "wen.tech", "Newest-Link-2026").await;
        let res = me
        .post(
            "/api/v1/auth/password",
            &json!({"current_password": "Newest-Link-2026", "new_password": "Changed-Myself-2026"}),
        )
        .await;
        assert_eq!(res.status(), 204);
        assert_eq!(set(before_change, "Stale-Link-2026").await, 410);
        Client::login(&server.base, "wen.tech", "Changed-Myself-2026").await;
        server.stop().await;
    }
);

/// A reset link stored directly, without the password being cleared (as
/// one issued on another node a moment earlier would be).
async fn plant_reset(server: &TestServer, user: Uuid) -> String {
    use jiliang_server::auth::token::{hash_token, random_token};
    use jiliang_server::store::tokens::{NewToken, Purpose};
    let store = &server.state.store;
    let u = store.get_user(user).await.expect("user");
    let token = random_token();
    store
        .insert_token(&NewToken {
            token_hash: &hash_token(&token),
            purpose: Purpose::Reset,
            user_id: Some(u.id),
            institution_id: u.institution_id,
            display_name: &u.display_name,
            email: None,
            phone: None,
            roles: &u.roles,
            created_by: None,
            expires_at: jiliang_server::clock::now() + time::Duration::hours(1),
        })
        .await
        .expect("token");
    token
}

// --- 5. Room sockets and the 30-day cap -------------------------------------

backend_tests!(
    a_room_socket_cannot_outlive_the_login_lifetime,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let server = TestServer::start_configured(db, |c| c.room_recheck_ms = 200).await;
        jiliang_server::demo::seed(&server.state.store)
            .await
            .expect("seed");
        let expert = server.login("expert").await;
        let qinan = server.institution_id("秦安县计量检定所").await;
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        let session = id_of(
        &created(
            expert
                .post(
                    "/api/v1/sessions",
                    &json!({"title": "长会话", "scheduled_start": now, "duration_minutes": 60, "lab_ids": [qinan]}),
                )
                .await,
        )
        .await,
    );
        let url = server.ws_url(&format!("/api/v1/sessions/{session}/ws"));
        let mut req = url.into_client_request().expect("request");
        req.headers_mut().insert(
            "cookie",
            expert
                .cookie
                .clone()
                .expect("cookie")
                .parse()
                .expect("header"),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgrade");
        ws.send(Message::text(
            json!({"type": "join", "protocol": jiliang_protocol::rooms::PROTOCOL_VERSION, "last_seq": 0}).to_string(),
        ))
        .await
        .expect("join");
        // The login was made 31 days ago (and used all along, so not idle).
        let long_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(31))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        jiliang_server::store::testing::execute(
            &server.state.store,
            &format!("UPDATE auth_sessions SET created_at = '{long_ago}'"),
        )
        .await
        .expect("age the login");
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(frame) = ws.next().await {
                match frame {
                    Ok(Message::Close(Some(f))) => return Some(u16::from(f.code)),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
            None
        })
        .await
        .expect("the socket is closed within the re-check interval");
        assert_eq!(closed, Some(4002), "closed as a login that ended");
        // And HTTP agrees.
        assert_eq!(expert.get("/api/v1/auth/me").await.status(), 401);
        server.stop().await;
    }
);

// --- 9. A lab moves, its help request follows ------------------------------

backend_tests!(
    a_moved_lab_takes_its_help_request_along,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let nim = server.login("nim.admin").await;
        let regional = server.institution_id("国家西北计量测试中心").await;
        let province = id_of(
        &created(
            nim.post(
                "/api/v1/institutions",
                &json!({"parent_id": regional, "level": "provincial", "name_zh": "青海省计量测试所", "region_code": "630000"}),
            )
            .await,
        )
        .await,
    );
        let city = id_of(
        &created(
            nim.post(
                "/api/v1/institutions",
                &json!({"parent_id": province, "level": "city", "name_zh": "海东市计量测试所", "region_code": "630200"}),
            )
            .await,
        )
        .await,
    );
        created(
        nim.post(
            "/api/v1/users",
            &json!({"username": "qinghai.expert", "display_name": "青海专家", "institution_id": province,
                    "roles": ["expert"], "password": "Metrology-2026!"}),
        )
        .await,
    )
    .await;
        let tech = server.login("tech").await;
        let help = id_of(
            &created(
                tech.post(
                    "/api/v1/help-requests",
                    &json!({"topic": "压力表超差", "instrument": "压力表", "urgency": "high"}),
                )
                .await,
            )
            .await,
        );
        let path = format!("/api/v1/help-requests/{help}");
        let sees = |who: Client| async move {
            let list = who.json("/api/v1/help-requests").await;
            list.as_array()
                .is_some_and(|l| l.iter().any(|h| h["id"] == help.to_string()))
        };
        let gansu = server.login("expert").await;
        let qinghai = Client::login(&server.base, "qinghai.expert", "Metrology-2026!").await;
        assert!(sees(gansu.clone()).await);
        assert!(!sees(qinghai.clone()).await);

        let qinan = server.institution_id("秦安县计量检定所").await;
        let res = nim
            .patch(
                &format!("/api/v1/institutions/{qinan}"),
                &json!({"parent_id": city}),
            )
            .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);

        // Access follows the new place: the old province no longer sees it…
        assert!(!sees(gansu.clone()).await);
        assert_eq!(
            gansu
                .post(&format!("{path}/accept"), &json!({}))
                .await
                .status(),
            404
        );
        // …the new one does, and can accept it.
        assert!(sees(qinghai.clone()).await);
        let session = created(qinghai.post(&format!("{path}/accept"), &json!({})).await).await;
        let session_id = session["id"].as_str().expect("session id");
        // The session it opened is overseen from the new province too.
        let qinghai_admin_view = nim.get(&format!("/api/v1/sessions/{session_id}")).await;
        assert_eq!(qinghai_admin_view.status(), 200);
        // The audit of the lab's people is read where the lab now is.
        let qinghai_admin = created(
        nim.post(
            "/api/v1/users",
            &json!({"username": "qinghai.admin", "display_name": "青海管理员", "institution_id": province,
                    "roles": ["admin"], "password": "Metrology-2026!"}),
        )
        .await,
    )
    .await;
        assert_eq!(qinghai_admin["username"], "qinghai.admin");
        let qa = Client::login(&server.base, "qinghai.admin", "Metrology-2026!").await;
        let logins = events(&qa, "login_succeeded").await;
        assert!(
            logins.iter().any(|e| e["target_name"] == "张伟"),
            "the moved lab's audit follows it: {logins:?}"
        );
        let gansu_admin = server.login("admin").await;
        let old = events(&gansu_admin, "login_succeeded").await;
        assert!(old.iter().all(|e| e["target_name"] != "张伟"), "{old:?}");
        server.stop().await;
    }
);

// --- 11. Invitations, deactivated labs -------------------------------------

backend_tests!(
    invitations_are_rechecked_at_acceptance_and_revocable,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let admin = server.login("admin").await;
        let tianshui = server.login("tianshui.admin").await;
        let qinan = server.institution_id("秦安县计量检定所").await;
        let invite = |who: Client, email: &'static str| async move {
            let v = created(
            who.post(
                "/api/v1/invitations",
                &json!({"display_name": "新同事", "email": email, "institution_id": qinan, "roles": ["technician"]}),
            )
            .await,
        )
        .await;
            let token = v["link"]
                .as_str()
                .and_then(|l| l.rsplit('/').next())
                .expect("token")
                .to_owned();
            (id_of(&v), token)
        };
        let anon = Client::new(&server.base);
        let accept = |token: String, username: &'static str| {
            let anon = anon.clone();
            async move {
                anon.post(
                    &format!("/api/v1/invitations/{token}/accept"),
                    &json!({"username": username, "password": "Metrology-2026!"}),
                )
                .await
                .status()
                .as_u16()
            }
        };

        // The inviter lost the right to invite: the invitation is void.
        let (_, by_tianshui) = invite(tianshui.clone(), "a@example.cn").await;
        let sun = server.user_id("tianshui.admin").await;
        let res = admin
            .patch(
                &format!("/api/v1/users/{sun}"),
                &json!({"roles": ["trainee"]}),
            )
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            anon.get(&format!("/api/v1/tokens/{by_tianshui}"))
                .await
                .status(),
            410
        );
        assert_eq!(accept(by_tianshui, "new.a").await, 410);

        // Revoked: gone at once, and listed as revoked.
        let (revoked_id, revoked) = invite(admin.clone(), "b@example.cn").await;
        let res = admin
            .post(
                &format!("/api/v1/invitations/{revoked_id}/revoke"),
                &json!({}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["status"], "revoked");
        assert_eq!(
            admin
                .post(
                    &format!("/api/v1/invitations/{revoked_id}/revoke"),
                    &json!({})
                )
                .await
                .status(),
            409
        );
        assert_eq!(accept(revoked, "new.b").await, 410);
        let list = admin.json("/api/v1/invitations").await;
        let listed = list
            .as_array()
            .and_then(|l| l.iter().find(|i| i["id"] == revoked_id.to_string()))
            .expect("listed");
        assert_eq!(listed["status"], "revoked");

        // The institution was deactivated meanwhile.
        let (_, to_closed) = invite(admin.clone(), "c@example.cn").await;
        let res = admin
            .patch(
                &format!("/api/v1/institutions/{qinan}"),
                &json!({"active": false}),
            )
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(accept(to_closed.clone(), "new.c").await, 410);
        let res = admin
            .patch(
                &format!("/api/v1/institutions/{qinan}"),
                &json!({"active": true}),
            )
            .await;
        assert_eq!(res.status(), 200);
        // Valid again once it is back in service (nothing was spent).
        assert_eq!(accept(to_closed, "new.c").await, 201);
        server.stop().await;
    }
);

backend_tests!(
    a_deactivated_lab_gets_no_help_and_no_session_start,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let tech = server.login("tech").await;
        let help = id_of(
            &created(
                tech.post(
                    "/api/v1/help-requests",
                    &json!({"topic": "天平超差", "instrument": "电子天平", "urgency": "normal"}),
                )
                .await,
            )
            .await,
        );
        let expert = server.login("expert").await;
        let qinan = server.institution_id("秦安县计量检定所").await;
        let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        let session = id_of(
        &created(
            expert
                .post(
                    "/api/v1/sessions",
                    &json!({"title": "远程检定", "scheduled_start": tomorrow, "duration_minutes": 60, "lab_ids": [qinan]}),
                )
                .await,
        )
        .await,
    );
        let admin = server.login("admin").await;
        let res = admin
            .patch(
                &format!("/api/v1/institutions/{qinan}"),
                &json!({"active": false}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let res = expert
            .post(&format!("/api/v1/help-requests/{help}/accept"), &json!({}))
            .await;
        assert_eq!(res.status(), 409);
        let res = expert
            .post(&format!("/api/v1/sessions/{session}/start"), &json!({}))
            .await;
        assert_eq!(res.status(), 409);
        let body: Value = res.json().await.expect("json");
        assert!(body["message"].to_string().contains("停用"), "{body}");
        // Ending it is still possible: nothing new happens by ending.
        assert_eq!(
            expert
                .post(&format!("/api/v1/sessions/{session}/end"), &json!({}))
                .await
                .status(),
            200
        );
        server.stop().await;
    }
);

// --- 11. Headers, cookies, readiness, Origin behind a proxy ----------------

backend_tests!(pages_carry_the_security_headers, |backend| async move {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    for path in ["/", "/api/v1/version"] {
        let res = reqwest::get(server.url(path)).await.expect("request");
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().expect("ascii");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("object-src 'none'"), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
    }
    server.stop().await;
});

backend_tests!(
    over_tls_the_cookie_is_secure_and_host_prefixed,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let server = TestServer::start_configured(db, |c| {
            c.public_url = Some("https://jiliang.example.cn".into());
        })
        .await;
        jiliang_server::demo::seed(&server.state.store)
            .await
            .expect("seed");
        let res = reqwest::Client::new()
            .post(server.url("/api/v1/auth/login"))
            .header("origin", "https://jiliang.example.cn")
            .json(&json!({"login": "tech", "password": DEMO_PASSWORD}))
            .send()
            .await
            .expect("request");
        assert_eq!(
            res.status(),
            200,
            "the public origin passes the Origin check"
        );
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("__Host-jiliang_session="))
            .expect("__Host- cookie")
            .to_owned();
        assert!(
            cookie.contains("; Secure") && cookie.contains("Path=/"),
            "{cookie}"
        );
        assert!(!cookie.contains("Domain"), "{cookie}");
        let pair = cookie.split(';').next().expect("pair").to_owned();
        let me = reqwest::Client::new()
            .get(server.url("/api/v1/auth/me"))
            .header("cookie", pair)
            .send()
            .await
            .expect("request");
        assert_eq!(me.status(), 200, "the prefixed cookie is read");
        // Another site is still refused.
        let res = reqwest::Client::new()
            .post(server.url("/api/v1/auth/login"))
            .header("origin", "https://evil.example")
            .json(&json!({"login": "tech", "password": DEMO_PASSWORD}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 403);
        server.stop().await;
    }
);

backend_tests!(
    a_proxy_that_rewrites_host_is_trusted_via_forwarded_host,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let trusting = TestServer::start_configured(db, |c| c.trust_proxy_hops = 1).await;
        let plain = TestServer::start(backend).await.expect("server");
        for (server, want) in [(&trusting, 401), (&plain, 403)] {
            // The proxy sends Host: 127.0.0.1:port and names the public host.
            let res = reqwest::Client::new()
                .post(server.url("/api/v1/auth/login"))
                .header("origin", "https://lab.example.cn")
                .header("x-forwarded-host", "lab.example.cn")
                .json(&json!({"login": "nobody", "password": "Not-the-password-1"}))
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), want);
        }
        trusting.stop().await;
        plain.stop().await;
    }
);

backend_tests!(readyz_does_not_show_database_errors, |backend| async move {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    server.state.store.close().await;
    let res = reqwest::get(server.url("/readyz")).await.expect("request");
    assert_eq!(res.status(), 503);
    let text = res.text().await.expect("body");
    assert!(text.contains("database"), "{text}");
    assert!(
        !text.to_lowercase().contains("pool") && !text.contains("closed"),
        "raw error text on a public endpoint: {text}"
    );
    server.shutdown.cancel();
});

// --- 11. Times compared across offsets -------------------------------------

backend_tests!(
    expiry_compares_as_time_whatever_the_offset,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let store = db.store().await;
        jiliang_server::demo::seed(&store).await.expect("seed");
        let user = store
            .find_user_by_login("tech")
            .await
            .expect("query")
            .expect("tech")
            .user;
        let beijing = time::UtcOffset::from_hms(8, 0, 0).expect("offset");
        let now = jiliang_server::clock::now();
        // Expired an hour ago, written in Beijing time; and one expiring at a
        // whole second (no fraction) a moment ago.
        for (n, expires_at) in [
            (1u8, (now - time::Duration::hours(1)).to_offset(beijing)),
            (
                2,
                (now - time::Duration::seconds(2))
                    .replace_nanosecond(0)
                    .expect("ns"),
            ),
        ] {
            store
                .insert_auth_session(&jiliang_server::store::auth_sessions::NewAuthSession {
                    token_hash: &[n; 32],
                    user_id: user.id,
                    csrf_token: "x",
                    expires_at,
                    ip: None,
                    user_agent: None,
                })
                .await
                .expect("insert");
        }
        let still_valid = (now + time::Duration::hours(1)).to_offset(beijing);
        store
            .insert_auth_session(&jiliang_server::store::auth_sessions::NewAuthSession {
                token_hash: &[9; 32],
                user_id: user.id,
                csrf_token: "x",
                expires_at: still_valid,
                ip: None,
                user_agent: None,
            })
            .await
            .expect("insert");
        assert_eq!(
            store.purge_expired_auth_sessions().await.expect("purge"),
            2,
            "both expired logins go, the valid one stays"
        );
        assert!(
            store
                .get_auth_session(&[9; 32])
                .await
                .expect("get")
                .is_some()
        );
        store.close().await;
        db.cleanup().await;
    }
);

backend_tests!(
    only_the_host_starts_and_ends_a_session,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let expert = server.login("expert").await;
        let co_expert = server.login("expert2").await;
        let qinan = server.institution_id("秦安县计量检定所").await;
        let expert2_id = server.user_id("expert2").await;
        let soon = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        let session = created(
            expert
                .post(
                    "/api/v1/sessions",
                    &json!({"title": "双专家会话", "scheduled_start": soon, "duration_minutes": 60,
                        "lab_ids": [qinan], "participant_ids": [expert2_id]}),
                )
                .await,
        )
        .await;
        let id = id_of(&session);
        // A fellow expert taking part sees it but does not run it.
        let detail = co_expert.json(&format!("/api/v1/sessions/{id}")).await;
        assert_eq!(detail["can_manage"], false);
        for action in ["start", "end"] {
            let res = co_expert
                .post(&format!("/api/v1/sessions/{id}/{action}"), &json!({}))
                .await;
            assert_eq!(res.status(), 403, "{action} by a co-expert");
        }
        let tech = server.login("tech").await;
        assert_eq!(
            tech.post(&format!("/api/v1/sessions/{id}/start"), &json!({}))
                .await
                .status(),
            403
        );
        for action in ["start", "end"] {
            let res = expert
                .post(&format!("/api/v1/sessions/{id}/{action}"), &json!({}))
                .await;
            assert_eq!(res.status(), 200, "{action} by the host");
        }
        server.stop().await;
    }
);

backend_tests!(
    a_page_allows_the_inline_script_of_the_front_end_it_serves,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let dist = tempfile::tempdir().expect("dist");
        let write = |boot: &str| {
            std::fs::write(
            dist.path().join("index.html"),
            format!("<!doctype html><html><head><script type=\"module\">{boot}</script></head><body></body></html>"),
        )
        .expect("write index.html");
        };
        write("import init from '/app-0000000000000001.js'; await init();");
        let dir = dist.path().to_path_buf();
        let server = TestServer::start_configured(db, |c| c.static_dir = dir).await;
        let page_csp = || async {
            let res = reqwest::get(server.url("/sessions"))
                .await
                .expect("request");
            assert_eq!(res.status(), 200);
            res.headers()["content-security-policy"]
                .to_str()
                .expect("ascii")
                .to_owned()
        };
        let first = page_csp().await;
        assert_eq!(first.matches("'sha256-").count(), 1, "{first}");
        // A new front end deployed while the server runs: its script is allowed.
        write("import init from '/app-0000000000000002.js'; await init();");
        let second = page_csp().await;
        assert_ne!(first, second);
        assert_eq!(
            second,
            jiliang_server::http::security_headers::content_security_policy(dist.path())
        );
        server.stop().await;
    }
);
