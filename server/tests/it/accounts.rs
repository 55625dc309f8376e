//! Accounts, sessions and institutions end to end over HTTP, on SQLite and
//! (when configured) PostgreSQL.

use crate::common::{Client, DEMO_PASSWORD, TestServer};
use serde_json::{Value, json};

async fn events(admin: &Client, event: &str) -> Vec<Value> {
    let page = admin.json(&format!("/api/v1/audit?event={event}")).await;
    page["items"].as_array().cloned().unwrap_or_default()
}

backend_tests!(login_me_logout, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let anon = Client::new(&server.base);
    assert_eq!(anon.get("/api/v1/auth/me").await.status(), 401);

    // Username, e-mail (any case) and wrong password.
    let c = Client::login(&server.base, "tech", DEMO_PASSWORD).await;
    let me = c.json("/api/v1/auth/me").await;
    assert_eq!(me["user"]["display_name"], "张伟");
    assert_eq!(me["institution"]["name_zh"], "秦安县计量检定所");
    assert_eq!(me["capabilities"]["view_people"], true);
    assert_eq!(me["capabilities"]["manage_people"], false);
    Client::login(&server.base, "Tech@Demo.Jiliang.CN", DEMO_PASSWORD).await;
    let res = anon
        .post(
            "/api/v1/auth/login",
            &json!({"login": "tech", "password": "wrong-Password-1"}),
        )
        .await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["message"], "用户名或密码不正确。");

    // The cookie is HttpOnly and SameSite.
    let res = anon
        .post(
            "/api/v1/auth/login",
            &json!({"login": "tech", "password": DEMO_PASSWORD}),
        )
        .await;
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let res = c.post("/api/v1/auth/logout", &json!({})).await;
    assert_eq!(res.status(), 204);
    assert_eq!(c.get("/api/v1/auth/me").await.status(), 401);
    server.stop().await;
});

backend_tests!(repeated_failures_lock_the_account, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let anon = Client::new(&server.base);
    let bad = json!({"login": "gangu.tech", "password": "Not-the-password-1"});
    for _ in 0..4 {
        assert_eq!(anon.post("/api/v1/auth/login", &bad).await.status(), 401);
    }
    let res = anon.post("/api/v1/auth/login", &bad).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert!((250..=300).contains(&retry), "{retry}");
    let body: Value = res.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("秒后重试")),
        "{body}"
    );
    // Even the right password is refused while locked.
    let res = anon
        .post(
            "/api/v1/auth/login",
            &json!({"login": "gangu.tech", "password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 429);

    let admin = server.login("admin").await;
    assert_eq!(
        events(&admin, "login_failed").await.len(),
        5,
        "the locking attempt failed too"
    );
    let lockouts = events(&admin, "lockout").await;
    assert_eq!(lockouts.len(), 1);
    assert_eq!(lockouts[0]["target_name"], "刘洋");
    assert!(
        lockouts[0]["ip"]
            .as_str()
            .is_some_and(|ip| ip == "127.0.0.1")
    );
    server.stop().await;
});

backend_tests!(
    one_failure_counter_per_account_and_per_address,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let anon = Client::new(&server.base);
        // Username and e-mail name the same account: they share its counter.
        for login in [
            "tech",
            "tech",
            "Tech@Demo.Jiliang.CN",
            "tech@demo.jiliang.cn",
        ] {
            let bad = json!({"login": login, "password": "Not-the-password-1"});
            assert_eq!(anon.post("/api/v1/auth/login", &bad).await.status(), 401);
        }
        let bad = json!({"login": "tech@demo.jiliang.cn", "password": "Not-the-password-1"});
        assert_eq!(anon.post("/api/v1/auth/login", &bad).await.status(), 429);
        let right = json!({"login": "tech", "password": DEMO_PASSWORD});
        assert_eq!(
            anon.post("/api/v1/auth/login", &right).await.status(),
            429,
            "locked by e-mail means locked by username too"
        );

        // Five failures so far from this address; 25 more, sent at once, make
        // the 30 that lock it: every one is counted even when they race.
        let mut tries = tokio::task::JoinSet::new();
        for i in 0..25 {
            let anon = anon.clone();
            tries.spawn(async move {
                let bad = json!({"login": format!("nobody{i}"), "password": "Not-the-password-1"});
                anon.post("/api/v1/auth/login", &bad)
                    .await
                    .status()
                    .as_u16()
            });
        }
        let mut statuses = Vec::new();
        while let Some(status) = tries.join_next().await {
            statuses.push(status.expect("task"));
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            1,
            "exactly the 30th failure locks: {statuses:?}"
        );
        let res = anon
            .post(
                "/api/v1/auth/login",
                &json!({"login": "expert", "password": DEMO_PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 429, "the address is locked for everyone");
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("secs");
        assert!((850..=900).contains(&retry), "{retry}");
        server.stop().await;
    }
);

backend_tests!(
    writes_need_the_csrf_token_and_the_same_origin,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let admin = server.login("admin").await;
        let qinan = server.institution_id("秦安县计量检定所").await;
        let path = format!("/api/v1/institutions/{qinan}");
        let mut no_token = admin.clone();
        no_token.csrf = None;
        let res = no_token.patch(&path, &json!({"contact": "x"})).await;
        assert_eq!(res.status(), 403);
        let body: Value = res.json().await.expect("json");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("CSRF") || m.contains("安全令牌"))
        );
        let mut wrong = admin.clone();
        wrong.csrf = Some("0".repeat(64));
        assert_eq!(
            wrong.patch(&path, &json!({"contact": "x"})).await.status(),
            403
        );
        assert_eq!(
            admin.patch(&path, &json!({"contact": "x"})).await.status(),
            200
        );

        let res = admin
            .http
            .post(format!("{}/api/v1/auth/login", server.base))
            .header("origin", "https://evil.example")
            .json(&json!({"login": "admin", "password": DEMO_PASSWORD}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 403);
        server.stop().await;
    }
);

backend_tests!(
    deactivation_ends_sessions_and_blocks_login,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let admin = server.login("admin").await;
        let tech = server.login("min.tech").await;
        let id = server.user_id("min.tech").await;
        let res = admin
            .patch(&format!("/api/v1/users/{id}"), &json!({"active": false}))
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(tech.get("/api/v1/auth/me").await.status(), 401);
        let res = Client::new(&server.base)
            .post(
                "/api/v1/auth/login",
                &json!({"login": "min.tech", "password": DEMO_PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 401);
        // The same answer as a wrong password: the right password must not
        // be confirmed to a guesser (issue 15). The audit log says why.
        let body: Value = res.json().await.expect("json");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("用户名或密码不正确") && !m.contains("停用")),
            "{body}"
        );
        let failed = events(&admin, "login_failed").await;
        assert_eq!(failed[0]["detail"], "account deactivated");
        assert_eq!(events(&admin, "user_deactivated").await.len(), 1);

        // An admin cannot lock themselves out.
        let me = server.user_id("admin").await;
        let res = admin
            .patch(&format!("/api/v1/users/{me}"), &json!({"active": false}))
            .await;
        assert_eq!(res.status(), 422);
        let res = admin
            .patch(
                &format!("/api/v1/users/{me}"),
                &json!({"roles": ["expert"]}),
            )
            .await;
        assert_eq!(res.status(), 422);

        // Role changes are audited with before and after.
        let res = admin
            .patch(
                &format!("/api/v1/users/{id}"),
                &json!({"active": true, "roles": ["technician", "trainee"]}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let changed = events(&admin, "role_changed").await;
        assert_eq!(changed[0]["detail"], "technician → technician, trainee");
        assert_eq!(changed[0]["actor_name"], "王建国");
        server.stop().await;
    }
);

backend_tests!(
    a_deactivated_institution_stops_its_people,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let admin = server.login("admin").await;
        let tech = server.login("min.tech").await;
        let min = server.institution_id("岷县计量检定所").await;
        let res = admin
            .patch(
                &format!("/api/v1/institutions/{min}"),
                &json!({"active": false}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let res = tech.get("/api/v1/auth/me").await;
        assert_eq!(res.status(), 401, "their open session ends");
        let login = json!({"login": "min.tech", "password": DEMO_PASSWORD});
        let res = Client::new(&server.base)
            .post("/api/v1/auth/login", &login)
            .await;
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.expect("json");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("用户名或密码不正确")),
            "uniform refusal: {body}"
        );
        // No new sessions with it either.
        let expert = server.login("expert").await;
        let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        let res = expert
            .post(
                "/api/v1/sessions",
                &json!({"title": "远程检定", "scheduled_start": tomorrow,
                        "duration_minutes": 60, "lab_ids": [min]}),
            )
            .await;
        assert_eq!(res.status(), 422);
        let body: Value = res.json().await.expect("json");
        assert!(body["message"].to_string().contains("已停用"), "{body}");
        // Reactivated, the lab works again; nothing was lost.
        let res = admin
            .patch(
                &format!("/api/v1/institutions/{min}"),
                &json!({"active": true}),
            )
            .await;
        assert_eq!(res.status(), 200);
        Client::login(&server.base, "min.tech", DEMO_PASSWORD).await;
        server.stop().await;
    }
);

backend_tests!(invitation_is_accepted_once, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let expert = server.login("expert").await;
    let qinan = server.institution_id("秦安县计量检定所").await;
    let res = expert
        .post(
            "/api/v1/invitations",
            &json!({"display_name": "何小兰", "phone": "139 0931 0001",
               "institution_id": qinan, "roles": ["technician"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let inv: Value = res.json().await.expect("json");
    let link = inv["link"].as_str().expect("link");
    assert!(
        link.starts_with(&format!("{}/invite/", server.base)),
        "{link}"
    );
    let token = link.rsplit('/').next().expect("token");
    assert_eq!(inv["status"], "pending");

    let anon = Client::new(&server.base);
    let info = anon.json(&format!("/api/v1/tokens/{token}")).await;
    assert_eq!(info["purpose"], "invite");
    assert_eq!(info["institution_name"], "秦安县计量检定所");
    assert_eq!(info["display_name"], "何小兰");

    let accept = format!("/api/v1/invitations/{token}/accept");
    let res = anon
        .post(&accept, &json!({"username": "hexl", "password": "short"}))
        .await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.expect("json");
    assert!(
        body["details"].as_array().is_some_and(|d| d.len() >= 2),
        "{body}"
    );
    let res = anon
        .post(
            &accept,
            &json!({"username": "tech", "password": "Metrology-2026!"}),
        )
        .await;
    assert_eq!(res.status(), 409, "username taken");

    let mut invitee = Client::new(&server.base);
    let res = invitee
        .post(
            &accept,
            &json!({"username": "hexl", "password": "Metrology-2026!"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let me = invitee.adopt(res).await;
    assert_eq!(me["user"]["roles"], json!(["technician"]));
    assert_eq!(me["user"]["phone"], "13909310001");
    assert_eq!(
        invitee.json("/api/v1/auth/me").await["user"]["username"],
        "hexl"
    );

    // Used once: the link is gone; the login works.
    assert_eq!(
        anon.get(&format!("/api/v1/tokens/{token}")).await.status(),
        404
    );
    assert_eq!(
        anon.post(
            &accept,
            &json!({"username": "hexl2", "password": "Metrology-2026!"})
        )
        .await
        .status(),
        404
    );
    Client::login(&server.base, "13909310001", "Metrology-2026!").await;
    let list = expert.json("/api/v1/invitations").await;
    assert_eq!(list[0]["status"], "accepted");
    assert!(list[0].get("link").is_none(), "links are shown only once");
    server.stop().await;
});

backend_tests!(admin_reset_and_own_password_change, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let admin = server.login("admin").await;
    let wen = server.login("wen.tech").await;
    let id = server.user_id("wen.tech").await;
    let res = admin
        .post(&format!("/api/v1/users/{id}/password-reset"), &json!({}))
        .await;
    assert_eq!(res.status(), 201);
    let link: Value = res.json().await.expect("json");
    let token = link["link"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .expect("token")
        .to_owned();
    assert_eq!(
        wen.get("/api/v1/auth/me").await.status(),
        401,
        "sessions end on reset"
    );
    let anon = Client::new(&server.base);
    let before_link = anon
        .post(
            "/api/v1/auth/login",
            &json!({"login": "wen.tech", "password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(
        before_link.status(),
        401,
        "the old password stops working as soon as a reset is issued"
    );

    let info = anon.json(&format!("/api/v1/tokens/{token}")).await;
    assert_eq!(info["purpose"], "reset");
    assert_eq!(info["username"], "wen.tech");
    let res = anon
        .post(
            &format!("/api/v1/password-resets/{token}"),
            &json!({"password": "wen.tech-Pass-1"}),
        )
        .await;
    assert_eq!(res.status(), 422, "contains the username");
    let res = anon
        .post(
            &format!("/api/v1/password-resets/{token}"),
            &json!({"password": "New-Secret-2026"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let wen = Client::login(&server.base, "wen.tech", "New-Secret-2026").await;
    let old = anon
        .post(
            "/api/v1/auth/login",
            &json!({"login": "wen.tech", "password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(old.status(), 401);

    // Changing one's own password ends the other sessions, keeps this one.
    let other = Client::login(&server.base, "wen.tech", "New-Secret-2026").await;
    let res = wen
        .post(
            "/api/v1/auth/password",
            &json!({"current_password": "wrong-Pass-123", "new_password": "Another-Pass-2026"}),
        )
        .await;
    assert_eq!(res.status(), 401);
    let res = wen
        .post(
            "/api/v1/auth/password",
            &json!({"current_password": "New-Secret-2026", "new_password": "Another-Pass-2026"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(wen.get("/api/v1/auth/me").await.status(), 200);
    assert_eq!(other.get("/api/v1/auth/me").await.status(), 401);
    server.stop().await;
});

backend_tests!(
    institution_tree_is_managed_and_never_loses_records,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let admin = server.login("admin").await;
        let tianshui = server.institution_id("天水市计量测试所").await;
        let dingxi = server.institution_id("定西市计量测试所").await;
        let province = server.institution_id("甘肃省计量研究院").await;

        let res = admin
        .post("/api/v1/institutions", &json!({"parent_id": tianshui, "level": "county",
               "name_zh": "清水县计量检定所", "name_en": "Qingshui County Metrology Station", "region_code": "620521"}))
        .await;
        assert_eq!(res.status(), 201);
        let q: Value = res.json().await.expect("json");
        let qid = q["id"].as_str().expect("id").to_owned();
        assert_eq!(q["ancestors"].as_array().map(Vec::len), Some(4));

        // Duplicate sibling name, wrong level, bad code.
        let res = admin
            .post(
                "/api/v1/institutions",
                &json!({"parent_id": tianshui, "level": "county",
               "name_zh": "清水县计量检定所", "region_code": "620521"}),
            )
            .await;
        assert_eq!(res.status(), 409);
        let res = admin
            .post(
                "/api/v1/institutions",
                &json!({"parent_id": tianshui, "level": "provincial",
               "name_zh": "某某院", "region_code": "12"}),
            )
            .await;
        assert_eq!(res.status(), 422);
        let body: Value = res.json().await.expect("json");
        let fields: Vec<&str> = body["details"]
            .as_array()
            .expect("details")
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert_eq!(fields, ["region_code", "level"]);

        // Rename, move, and a cycle refused.
        let path = format!("/api/v1/institutions/{qid}");
        assert_eq!(
            admin
                .patch(&path, &json!({"name_zh": "清水县计量所"}))
                .await
                .status(),
            200
        );
        let moved: Value = admin
            .patch(&path, &json!({"parent_id": dingxi}))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(moved["parent_id"], json!(dingxi));
        let res = admin
            .patch(
                &format!("/api/v1/institutions/{dingxi}"),
                &json!({"parent_id": qid}),
            )
            .await;
        assert_eq!(res.status(), 422, "cannot move under own subtree");
        // Children of a moved institution move with it.
        let res = admin
        .post("/api/v1/institutions", &json!({"parent_id": dingxi, "level": "county", "name_zh": "渭源县计量检定所", "region_code": "621123"}))
        .await;
        let child: Value = res.json().await.expect("json");
        let res = admin
            .patch(
                &format!("/api/v1/institutions/{}", child["id"].as_str().expect("id")),
                &json!({"parent_id": tianshui}),
            )
            .await;
        assert_eq!(res.status(), 200);

        // Own institution cannot be restructured by its own admin; deactivate a lab.
        assert_eq!(
            admin
                .patch(
                    &format!("/api/v1/institutions/{province}"),
                    &json!({"active": false})
                )
                .await
                .status(),
            403
        );
        let d: Value = admin
            .patch(&path, &json!({"active": false}))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(d["active"], false);
        let res = admin
            .post(
                "/api/v1/users",
                &json!({"username": "late", "display_name": "迟到", "institution_id": qid,
               "roles": ["technician"], "password": "Metrology-2026!"}),
            )
            .await;
        assert_eq!(
            res.status(),
            422,
            "no new people in a deactivated institution"
        );
        // Nothing was deleted: the deactivated lab is still listed.
        let all = admin.json("/api/v1/institutions").await;
        assert!(
            all.as_array()
                .expect("list")
                .iter()
                .any(|i| i["id"] == json!(qid) && i["active"] == false)
        );
        for event in [
            "institution_created",
            "institution_renamed",
            "institution_moved",
            "institution_deactivated",
        ] {
            assert!(
                !events(&admin, event).await.is_empty(),
                "{event} not audited"
            );
        }
        server.stop().await;
    }
);

backend_tests!(people_search_and_direct_creation, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let admin = server.login("tianshui.admin").await;
    let gangu = server.institution_id("甘谷县计量检定所").await;
    let page = admin.json("/api/v1/users?limit=2").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    let cursor = page["next_cursor"].as_str().expect("more pages");
    let page2 = admin
        .json(&format!("/api/v1/users?limit=50&cursor={cursor}"))
        .await;
    // 天水: 孙丽, and the labs below: 张伟, 刘洋, 周敏? (no: 宕昌 is under 陇南), 吴晓燕.
    assert_eq!(page2["items"].as_array().map(Vec::len), Some(2));
    let found = admin.json("/api/v1/users?q=%E5%88%98").await; // 刘
    assert_eq!(found["items"][0]["username"], "gangu.tech");
    let trainees = admin.json("/api/v1/users?role=trainee").await;
    assert_eq!(trainees["items"].as_array().map(Vec::len), Some(1));

    let body = json!({"username": "Gangu.New", "display_name": "新人", "email": "new@gangu.cn",
                      "institution_id": gangu, "roles": ["technician", "technician"], "password": "Metrology-2026!"});
    let res = admin.post("/api/v1/users", &body).await;
    assert_eq!(res.status(), 201);
    let u: Value = res.json().await.expect("json");
    assert_eq!(u["username"], "gangu.new");
    assert_eq!(u["roles"], json!(["technician"]));
    let res = admin.post("/api/v1/users", &body).await;
    assert_eq!(res.status(), 409);
    let mut dup_mail = body.clone();
    dup_mail["username"] = json!("other.name");
    let res = admin.post("/api/v1/users", &dup_mail).await;
    assert_eq!(res.status(), 409);
    let msg: Value = res.json().await.expect("json");
    assert!(
        msg["message"]
            .as_str()
            .is_some_and(|m| m.contains("电子邮箱")),
        "{msg}"
    );
    Client::login(&server.base, "new@gangu.cn", "Metrology-2026!").await;
    server.stop().await;
});

#[tokio::test]
async fn bad_bodies_get_clear_errors() {
    let server = TestServer::start_seeded(crate::common::Backend::Sqlite)
        .await
        .expect("sqlite");
    let admin = server.login("admin").await;
    let url = format!("{}/api/v1/invitations", server.base);
    let req = |body: reqwest::Body, ct: &str| {
        admin
            .http
            .post(&url)
            .header("cookie", admin.cookie.clone().unwrap_or_default())
            .header("x-csrf-token", admin.csrf.clone().unwrap_or_default())
            .header("content-type", ct)
            .header("accept-language", "en")
            .body(body)
    };
    let res = req("{not json".into(), "application/json")
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 400);
    let b: Value = res.json().await.expect("json");
    assert_eq!(b["code"], "malformed_json");
    let res = req(r#"{"display_name": 5}"#.into(), "application/json")
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 422);
    let res = req("{}".into(), "text/plain").send().await.expect("req");
    assert_eq!(res.status(), 415);
    let big = format!(r#"{{"display_name":"{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let res = req(big.into(), "application/json")
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 413);
    let b: Value = res.json().await.expect("json");
    assert_eq!(b["code"], "payload_too_large");
    // The server is fine afterwards.
    assert_eq!(admin.get("/api/v1/auth/me").await.status(), 200);
    server.stop().await;
}
