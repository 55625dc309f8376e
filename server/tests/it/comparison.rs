//! A session's comparison of a unit under test against a reference: a full
//! run with two devices fed through the real ingest path (typed readings),
//! three test points, results equal to the metrology function's, the record
//! stored and its proof verifying, the CSV, and every bad input refused.

use crate::common::{Client, TestServer};
use jiliang_ledger::{Bundle, verify_bundle_with_key, verifying_key_from_hex};
use jiliang_metrology::calibration::evaluate_point;
use jiliang_protocol::comparison::ComparisonView;
use jiliang_server::ledger::verify::verify_database;
use serde_json::{Value, json};
use uuid::Uuid;

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().and_then(|s| s.parse().ok()).expect("id")
}

async fn register(server: &TestServer, tech: &Client, body: Value) -> Uuid {
    let qinan = server.institution_id("秦安县计量检定所").await;
    let mut body = body;
    body["lab_id"] = json!(qinan);
    let res = tech.post("/api/v1/devices", &body).await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    id_of(&res.json().await.expect("json"))
}

async fn session(server: &TestServer, expert: &Client, start: bool) -> Uuid {
    let qinan = server.institution_id("秦安县计量检定所").await;
    let res = expert
        .post(
            "/api/v1/sessions",
            &json!({"title": "数字多用表比对", "scheduled_start": now(),
                    "duration_minutes": 60, "lab_ids": [qinan]}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let id = id_of(&res.json().await.expect("json"));
    if start {
        let res = expert
            .post(&format!("/api/v1/sessions/{id}/start"), &json!({}))
            .await;
        assert_eq!(res.status(), 200);
    }
    id
}

async fn attach(tech: &Client, session: Uuid, device: Uuid) {
    let res = tech
        .post(
            &format!("/api/v1/sessions/{session}/devices"),
            &json!({"device_id": device}),
        )
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
}

/// Type readings in for a device (the manual-entry ingest path).
async fn feed(tech: &Client, device: Uuid, unit: &str, values: &[f64]) {
    let readings: Vec<Value> = values
        .iter()
        .map(|v| json!({"value": v, "unit": unit, "t": now(), "u_t": 0.01}))
        .collect();
    let res = tech
        .post(
            &format!("/api/v1/devices/{device}/readings"),
            &json!({"key": Uuid::now_v7().to_string(), "readings": readings}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
}

async fn status_code(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    (status, v)
}

fn setup_body(uut: Uuid, reference: Uuid) -> Value {
    json!({"uut_device_id": uut, "ref_device_id": reference,
           "points": [1.0, 5.0, 10.0], "readings_per_point": 3,
           "mpe": {"form": "reading-plus-digits", "reading_percent": 0.05, "digits": 2, "resolution": 0.0001}})
}

backend_tests!(a_comparison_runs_end_to_end, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let tech = server.login("tech").await;
    let expert = server.login("expert").await;
    let admin = server.login("admin").await;
    let uut = register(
        &server,
        &tech,
        json!({"name": "被检数字多用表", "kind": "digital multimeter", "quantity": "voltage",
               "unit": "V", "resolution": 0.0001}),
    )
    .await;
    // The reference reads millivolts; its certificate is in millivolts too.
    let reference = register(
        &server,
        &tech,
        json!({"name": "标准数字多用表", "kind": "digital multimeter", "quantity": "voltage",
               "unit": "mV", "resolution": 0.001,
               "reference": {"certificate_no": "GS2026-0042", "expanded_uncertainty": 0.2, "k": 2.0}}),
    )
    .await;
    let ammeter = register(
        &server,
        &tech,
        json!({"name": "电流表", "kind": "ammeter", "quantity": "voltage", "unit": "A"}),
    )
    .await;
    let id = session(&server, &expert, true).await;
    let path = format!("/api/v1/sessions/{id}/comparison");

    // Nothing set up yet.
    let (s, v) = status_code(expert.get(&path).await).await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["code"], "not_found");

    // Bad setups, each a clear 4xx.
    let put = |c: &Client, body: Value| {
        let c = c.clone();
        let path = path.clone();
        async move { status_code(c.send(reqwest::Method::PUT, &path, Some(&body)).await).await }
    };
    let (s, v) = put(&expert, setup_body(uut, reference)).await;
    assert_eq!(s, 422, "devices not attached yet: {v}");
    assert!(
        v["message"]
            .as_str()
            .expect("message")
            .contains("not attached")
            || v["code"] == "invalid_input"
    );
    attach(&tech, id, uut).await;
    attach(&tech, id, reference).await;
    attach(&tech, id, ammeter).await;
    let (s, v) = put(&tech, setup_body(uut, reference)).await;
    assert_eq!(s, 403, "not the host: {v}");
    let (s, v) = put(&admin, setup_body(uut, reference)).await;
    assert_eq!(s, 403, "an admin overseeing is not the host: {v}");
    let (s, v) = put(&expert, setup_body(uut, ammeter)).await;
    assert_eq!(s, 422, "V against A: {v}");
    let (s, _) = put(&expert, setup_body(uut, uut)).await;
    assert_eq!(s, 422, "the same device twice");
    let mut nan = setup_body(uut, reference);
    nan["points"] = json!([1.0, "NaN", 10.0]);
    let (s, v) = put(&expert, nan).await;
    assert!((400..500).contains(&s), "NaN: {s} {v}");
    assert!(v["code"].is_string() && v["message"].is_string(), "{v}");
    let mut huge = setup_body(uut, reference);
    huge["points"] = json!([1.0, null]);
    let (s, v) = put(&expert, huge).await;
    assert!((400..500).contains(&s), "null for a number: {s} {v}");
    let mut zero_mpe = setup_body(uut, reference);
    zero_mpe["points"] = json!([0.0]);
    zero_mpe["mpe"] = json!({"form": "relative", "percent": 0.1});
    let (s, v) = put(&expert, zero_mpe).await;
    assert_eq!(s, 422, "no MPE at 0: {v}");
    let mut none = setup_body(uut, reference);
    none["readings_per_point"] = json!(0);
    assert_eq!(put(&expert, none).await.0, 422);
    let mut half = setup_body(uut, reference);
    half["ref_k"] = json!(2.0);
    assert_eq!(put(&expert, half).await.0, 422, "ref_k without U");

    // A session that is not live.
    let scheduled = session(&server, &expert, false).await;
    let res = expert
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/sessions/{scheduled}/comparison"),
            Some(&setup_body(uut, reference)),
        )
        .await;
    assert_eq!(res.status(), 409);

    // Set up, then change it (allowed until the first point starts).
    let mut first = setup_body(uut, reference);
    first["readings_per_point"] = json!(5);
    let (s, v) = put(&expert, first).await;
    assert_eq!(s, 200, "{v}");
    let comparison_id = v["comparison_id"].clone();
    let (s, v) = put(&expert, setup_body(uut, reference)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["comparison_id"], comparison_id, "the same comparison");
    let view: ComparisonView = serde_json::from_value(v).expect("view");
    assert_eq!(view.spec.calibration.readings_per_point, 3);
    assert_eq!(view.spec.calibration.ref_factor, 0.001);
    assert_eq!(view.spec.calibration.ref_certificate.expanded, 0.2 * 0.001);
    assert_eq!(view.spec.calibration.resolution, 0.0001);

    let start = |c: &Client, index: i64| {
        let c = c.clone();
        let url = format!("/api/v1/sessions/{id}/comparison/points/{index}/start");
        async move { status_code(c.post(&url, &json!({})).await).await }
    };
    assert_eq!(start(&tech, 0).await.0, 403, "not the host");
    let (s, v) = start(&expert, 3).await;
    assert_eq!(s, 422, "no point 3: {v}");
    assert!((400..500).contains(&start(&expert, -1).await.0));

    // Three points, each with three readings of each device (and one extra
    // UUT reading that must not count).
    let uut_values = [
        [1.0001, 1.0003, 1.0002],
        [5.0011, 5.0009, 5.0012],
        [10.0081, 10.0079, 10.0083],
    ];
    let ref_values = [
        [1000.01, 999.99, 1000.02],
        [5000.02, 5000.01, 4999.98],
        [10000.05, 10000.02, 10000.04],
    ];
    for p in 0..3 {
        let (s, v) = start(&expert, p as i64).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["current_point"], p);
        feed(&tech, uut, "V", &uut_values[p][..2]).await;
        feed(&tech, reference, "mV", &ref_values[p]).await;
        feed(&tech, uut, "V", &[uut_values[p][2], 99.0]).await;
    }
    // Settings are fixed now.
    assert_eq!(put(&expert, setup_body(uut, reference)).await.0, 409);

    // Everyone who may see the session reads the same results, equal to
    // the metrology function's on the readings used.
    for who in [&expert, &tech, &admin] {
        let view: ComparisonView = serde_json::from_value(who.json(&path).await).expect("view");
        assert_eq!(view.points.len(), 3);
        for (p, point) in view.points.iter().enumerate() {
            assert_eq!((point.n_uut, point.n_ref), (3, 3), "point {p}");
            let refs: Vec<f64> = ref_values[p].iter().map(|v| v * 0.001).collect();
            let want = evaluate_point(
                &view.spec.calibration,
                [1.0, 5.0, 10.0][p],
                &uut_values[p],
                &refs,
            )
            .expect("evaluates");
            assert_eq!(point.result.as_ref(), Some(&want), "point {p}");
        }
        assert!(view.verdict.is_some());
        assert!(view.finished.is_none());
    }

    // Finish: only the host, once.
    let finish = format!("/api/v1/sessions/{id}/comparison/finish");
    assert_eq!(tech.post(&finish, &json!({})).await.status(), 403);
    let (s, v) = status_code(expert.post(&finish, &json!({})).await).await;
    assert_eq!(s, 200, "{v}");
    let done: ComparisonView = serde_json::from_value(v).expect("view");
    let record = done.finished.clone().expect("finished").record;
    assert_eq!(record.kind, "raw_record");
    assert_eq!(record.id, comparison_id.as_str().expect("id"));
    let (s, v) = status_code(expert.post(&finish, &json!({})).await).await;
    assert_eq!(s, 409, "finishing twice: {v}");
    assert_eq!(start(&expert, 0).await.0, 409, "no point after the finish");
    // The log has the event, with the verdict and the record.
    let events = expert
        .json(&format!("/api/v1/sessions/{id}/events?limit=1000"))
        .await;
    let finished: Vec<&Value> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["body"]["kind"] == "comparison_finished")
        .collect();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["body"]["record"]["id"], record.id.as_str());
    assert_eq!(
        finished[0]["body"]["points"].as_array().map(Vec::len),
        Some(3)
    );

    // The record and its proof verify with the published key; the
    // session's export lists it; the database verifies.
    let head = expert.json("/api/v1/ledger/head").await;
    let key = verifying_key_from_hex(head["public_key"].as_str().expect("key")).expect("key");
    let res = tech
        .get(&format!("/api/v1/ledger/records/raw_record/{}", record.id))
        .await;
    assert_eq!(res.status(), 200);
    let one: Bundle = res.json().await.expect("bundle");
    assert_eq!(one.records.len(), 1);
    let report = verify_bundle_with_key(&one, &key);
    assert!(report.ok, "{report}");
    let payload: Value =
        serde_json::from_str(one.records[0].payload.as_str()).expect("payload json");
    let readings_in_record: usize = payload["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["readings"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(readings_in_record, 18, "every reading used, no more");
    assert_eq!(
        payload["finished_by"]["id"],
        json!(server.user_id("expert").await)
    );
    let export: Bundle = expert
        .get(&format!("/api/v1/sessions/{id}/export"))
        .await
        .json()
        .await
        .expect("bundle");
    assert!(
        export
            .records
            .iter()
            .any(|r| r.kind.as_str() == "raw_record" && r.id == record.id)
    );
    assert!(verify_bundle_with_key(&export, &key).ok);
    let db = verify_database(&server.state.store, Some(key))
        .await
        .expect("verify");
    assert!(db.ok, "{:?}", db.problems);

    // The CSV of the readings used.
    let res = tech.get(&format!("{path}/readings.csv")).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/csv")
    );
    let csv = res.text().await.expect("text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "t,point,channel,device_id,seq,value,unit,u_t");
    assert_eq!(lines.len(), 1 + 18);
    let row: Vec<&str> = lines[1].split(',').collect();
    assert!(row[0].ends_with('Z'), "UTC: {}", row[0]);
    assert_eq!(&row[1..4], &["0", "uut", &uut.to_string()]);
    assert_eq!(row[5], "1.0001");
    assert_eq!(row[6], "V");
    let ref_row: Vec<&str> = lines[4].split(',').collect();
    assert_eq!(&ref_row[2..4], &["ref", &reference.to_string()]);
    assert_eq!(ref_row[6], "mV");
    assert!(
        lines[1..].iter().all(|l| l.split(',').nth(5) != Some("99")),
        "the extra reading is not used"
    );

    // After the finish, a new comparison may be set up.
    let (s, v) = put(&expert, setup_body(uut, reference)).await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(v["comparison_id"], comparison_id);
    server.stop().await;
});
