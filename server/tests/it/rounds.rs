//! Comparison rounds through the API: an expert creates a round, invites
//! three labs, their technicians submit (and correct), the expert closes,
//! excludes one lab with a reason, reads the report — equal to what
//! `jiliang compare --format json` prints for the same data — and
//! publishes it as a ledger record; a lab sees its own result named and the
//! others by code, then everyone named. Every refusal of the issue: bad
//! numbers naming the field, an unknown unit, a lab not invited, someone
//! else's lab, after the deadline, after the close, too few labs,
//! oversized or unsupported attachments.

use crate::common::cli::{self, Temp};
use crate::common::{Client, TestServer};
use jiliang_ledger::{Bundle, verify_bundle_with_key, verifying_key_from_hex};
use serde_json::{Value, json};
use uuid::Uuid;

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn in_days(days: i64) -> String {
    rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(days))
}

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().and_then(|s| s.parse().ok()).expect("id")
}

#[track_caller]
fn field_of(v: &Value) -> String {
    v["details"][0]["field"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn expect(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn create(expert: &Client, body: Value) -> Uuid {
    id_of(&expect(expert.post("/api/v1/rounds", &body).await, 201).await)
}

async fn put(c: &Client, path: &str, body: &Value) -> reqwest::Response {
    c.send(reqwest::Method::PUT, path, Some(body)).await
}

fn labs_by_code(report: &Value) -> Vec<String> {
    report["labs"]
        .as_array()
        .expect("labs")
        .iter()
        .map(|l| l["lab"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `pdftotext -layout` of a PDF, `None` (with a message) without the tool.
fn text_of(pdf: &[u8]) -> Option<String> {
    let file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(file.path(), pdf).expect("write");
    let o = crate::certificates::run_tool(
        "pdftotext",
        &["-layout".as_ref(), file.path().as_os_str(), "-".as_ref()],
    )?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The text of certificate `number`'s PDF as `c` downloads it; `None`
/// without a CJK font or pdftotext.
async fn pdf_text(c: &Client, number: &str) -> Option<String> {
    let res = c.get(&format!("/api/v1/certificates/{number}/pdf")).await;
    if res.status() == 503 {
        eprintln!("skipped: no CJK font on this machine");
        return None;
    }
    assert_eq!(res.status(), 200);
    text_of(&res.bytes().await.expect("pdf"))
}

/// The report without what only a round has (lab ids, exclusion reasons).
fn strip(mut v: Value) -> Value {
    for l in v["labs"].as_array_mut().expect("labs") {
        if let Some(o) = l.as_object_mut() {
            o.remove("id");
            o.remove("exclusion_reason");
        }
    }
    v
}

backend_tests!(
    a_round_from_creation_to_published_report,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let expert = server.login("expert").await;
        let tech = server.login("tech").await;
        let tongwei = server.login("tongwei.tech").await;
        let gangu = server.login("gangu.tech").await;
        let qinan_id = server.institution_id("秦安县计量检定所").await;
        let tongwei_id = server.institution_id("通渭县计量检定所").await;
        let gangu_id = server.institution_id("甘谷县计量检定所").await;
        let wen_id = server.institution_id("文县计量检定所").await;

        // Bad settings, each naming its field.
        let base = json!({"title": "10 V 直流电压比对", "quantity": "直流电压", "unit": "V",
        "deadline": in_days(7), "method": "weighted-mean", "options": {"sigma_pt": 0.00005},
        "blind": false, "artefact": "Fluke 732C 10 V 标准", "protocol": "23 ℃ ± 1 ℃ 下测量 10 次取平均。"});
        let mut bad = base.clone();
        bad["unit"] = json!("furlongs");
        assert_eq!(
            field_of(&expect(expert.post("/api/v1/rounds", &bad).await, 422).await),
            "unit"
        );
        let mut bad = base.clone();
        bad["deadline"] = json!(in_days(-1));
        assert_eq!(
            field_of(&expect(expert.post("/api/v1/rounds", &bad).await, 422).await),
            "deadline"
        );
        let mut bad = base.clone();
        bad["method"] = json!("assigned");
        assert_eq!(
            field_of(&expect(expert.post("/api/v1/rounds", &bad).await, 422).await),
            "options.assigned"
        );
        expect(tech.post("/api/v1/rounds", &base).await, 403).await;

        let id = create(&expert, base.clone()).await;
        let round = expect(
            expert
                .post(
                    &format!("/api/v1/rounds/{id}/labs"),
                    &json!({"lab_ids": [qinan_id, tongwei_id, gangu_id]}),
                )
                .await,
            200,
        )
        .await;
        let codes: Vec<&str> = round["labs"]
            .as_array()
            .expect("labs")
            .iter()
            .map(|l| l["code"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(codes, ["L01", "L02", "L03"]);
        assert_eq!(round["state"], "open");
        // A lab outside the expert's reach is refused by field; a technician
        // cannot invite.
        let foreign = Uuid::now_v7();
        assert_eq!(
            field_of(
                &expect(
                    expert
                        .post(
                            &format!("/api/v1/rounds/{id}/labs"),
                            &json!({"lab_ids": [foreign]})
                        )
                        .await,
                    422
                )
                .await
            ),
            "lab_ids[0]"
        );
        expect(
            tech.post(
                &format!("/api/v1/rounds/{id}/labs"),
                &json!({"lab_ids": [wen_id]}),
            )
            .await,
            403,
        )
        .await;

        // Results. Bad numbers name their field; nothing is stored.
        let result = |lab: Uuid| format!("/api/v1/rounds/{id}/results/{lab}");
        for (body, field) in [
            (
                json!({"value": "abc", "expanded_uncertainty": 0.00002, "k": 2}),
                "value",
            ),
            (
                json!({"value": 10.0, "expanded_uncertainty": -0.00002, "k": 2}),
                "expanded_uncertainty",
            ),
            (
                json!({"value": 10.0, "expanded_uncertainty": "x", "k": 2}),
                "expanded_uncertainty",
            ),
            (
                json!({"value": 10.0, "expanded_uncertainty": 0.00002, "k": 0}),
                "k",
            ),
            (json!({"value": 10.0, "expanded_uncertainty": 0.00002}), "k"),
        ] {
            let v = expect(put(&tech, &result(qinan_id), &body).await, 422).await;
            assert_eq!(field_of(&v), field, "{body}");
        }
        let view = expect(expert.get(&format!("/api/v1/rounds/{id}")).await, 200).await;
        assert_eq!(view["labs"][0]["submitted"], false, "nothing stored half");
        // Someone else's lab, a lab not invited, an expert for a lab.
        let ok = json!({"value": 10.000_031, "expanded_uncertainty": 0.000_020, "k": 2, "method_notes": "3458A, 10 次平均"});
        expect(put(&tech, &result(tongwei_id), &ok).await, 403).await;
        expect(put(&expert, &result(qinan_id), &ok).await, 403).await;
        let wen = server.login("wen.tech").await;
        expect(put(&wen, &result(wen_id), &ok).await, 403).await;

        expect(
            put(
                &tech,
                &result(qinan_id),
                &json!({"value": 10.000_09, "expanded_uncertainty": 0.000_020, "k": 2}),
            )
            .await,
            200,
        )
        .await;
        // Corrected before the deadline.
        let mine = expect(put(&tech, &result(qinan_id), &ok).await, 200).await;
        assert_eq!(mine["labs"][0]["result"]["value"], 10.000_031);
        expect(
            put(
                &tongwei,
                &result(tongwei_id),
                &json!({"value": 10.000_012, "expanded_uncertainty": 0.000_030, "k": 2}),
            )
            .await,
            200,
        )
        .await;
        expect(
            put(
                &gangu,
                &result(gangu_id),
                &json!({"value": 10.000_210, "expanded_uncertainty": 0.000_025, "k": 2.1}),
            )
            .await,
            200,
        )
        .await;

        // An attachment: stored, downloadable by the coordinator; wrong type
        // and oversize refused by field.
        let att = |c: &Client, body: Value| {
            let c = c.clone();
            let path = format!("/api/v1/rounds/{id}/results/{qinan_id}/attachments");
            async move { c.post(&path, &body).await }
        };
        let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        let info = expect(
            att(
                &tech,
                json!({"name": "记录.png", "content_type": "image/png", "data_base64": png}),
            )
            .await,
            201,
        )
        .await;
        let got = expert
            .get(&format!("/api/v1/rounds/{id}/attachments/{}", id_of(&info)))
            .await;
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.expect("bytes").len(), 70);
        let v = expect(
        att(&tech, json!({"name": "a.exe", "content_type": "application/x-msdownload", "data_base64": png})).await,
        422,
    )
    .await;
        assert_eq!(field_of(&v), "content_type");
        let big = "A".repeat(400_000);
        let v = expect(
            att(
                &tech,
                json!({"name": "big.txt", "content_type": "text/plain", "data_base64": big}),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(field_of(&v), "data_base64");

        // The lab sees its own result named, the others by code, and no report
        // while the round is open.
        let seen = expect(tech.get(&format!("/api/v1/rounds/{id}")).await, 200).await;
        assert_eq!(seen["labs"][0]["name"], "秦安县计量检定所");
        assert!(seen["labs"][1].get("name").is_none() && seen["labs"][1].get("result").is_none());
        assert_eq!(
            seen["labs"][0]["result"]["attachments"][0]["name"],
            "记录.png"
        );
        assert_eq!(seen["abilities"]["submit_for"][0], qinan_id.to_string());
        expect(tech.get(&format!("/api/v1/rounds/{id}/report")).await, 409).await;
        // Lists.
        let list = expect(tech.get("/api/v1/rounds").await, 200).await;
        assert!(
            list["items"]
                .as_array()
                .expect("items")
                .iter()
                .any(|r| id_of(r) == id)
        );
        let list = expect(wen.get("/api/v1/rounds").await, 200).await;
        assert!(
            !list["items"]
                .as_array()
                .expect("items")
                .iter()
                .any(|r| id_of(r) == id)
        );

        // Exclusion needs a closed round; close; no more results.
        expect(
            put(
                &expert,
                &format!("/api/v1/rounds/{id}/labs/{gangu_id}/exclusion"),
                &json!({"reason": "运输中受震"}),
            )
            .await,
            409,
        )
        .await;
        expect(
            tech.post(&format!("/api/v1/rounds/{id}/close"), &json!({}))
                .await,
            403,
        )
        .await;
        expect(
            expert
                .post(&format!("/api/v1/rounds/{id}/close"), &json!({}))
                .await,
            200,
        )
        .await;
        expect(
            expert
                .post(&format!("/api/v1/rounds/{id}/close"), &json!({}))
                .await,
            409,
        )
        .await;
        let v = expect(put(&tech, &result(qinan_id), &ok).await, 409).await;
        assert_eq!(v["code"], "conflict");
        expect(
            put(
                &expert,
                &format!("/api/v1/rounds/{id}/labs/{gangu_id}/exclusion"),
                &json!({"reason": " "}),
            )
            .await,
            422,
        )
        .await;
        let v = expect(
            put(
                &expert,
                &format!("/api/v1/rounds/{id}/labs/{gangu_id}/exclusion"),
                &json!({"reason": "运输中受震，传递标准漂移"}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(v["labs"][2]["excluded"], "运输中受震，传递标准漂移");

        // The coordinator's report equals `jiliang compare` on the same data.
        let report = expect(
            expert.get(&format!("/api/v1/rounds/{id}/report")).await,
            200,
        )
        .await;
        let names = labs_by_code(&report);
        assert_eq!(
            names,
            [
                "秦安县计量检定所 (L01)",
                "通渭县计量检定所 (L02)",
                "甘谷县计量检定所 (L03)"
            ]
        );
        assert_eq!(report["labs"][2]["included"], false);
        assert_eq!(
            report["labs"][2]["exclusion_reason"],
            "运输中受震，传递标准漂移"
        );
        assert!(
            report["labs"][2]["en"].is_number(),
            "an excluded lab keeps its DoE"
        );
        let csv = format!(
            "lab,value,U,k\n{},10.000031,0.00002,2\n{},10.000012,0.00003,2\n{},10.00021,0.000025,2.1\n",
            names[0], names[1], names[2]
        );
        let file = Temp::new("round.csv", csv.as_bytes());
        let cli_report = cli::json(&[
            "compare",
            "--input",
            &file.p(),
            "--method",
            "weighted-mean",
            "--sigma-pt",
            "0.00005",
            "--exclude",
            &names[2],
        ]);
        assert_eq!(strip(report.clone()), cli_report);

        // An open round: the lab sees the report once closed, others by code.
        let theirs = expect(tech.get(&format!("/api/v1/rounds/{id}/report")).await, 200).await;
        assert_eq!(
            labs_by_code(&theirs),
            ["秦安县计量检定所 (L01)", "L02", "L03"]
        );
        assert!(theirs["labs"][1].get("id").is_none());
        assert_eq!(theirs["reference"], report["reference"]);
        let csv = tech.get(&format!("/api/v1/rounds/{id}/report.csv")).await;
        assert_eq!(csv.status(), 200);
        let text = csv.text().await.expect("csv");
        assert!(text.contains("\nL02,10.000012,"), "{text}");

        // Publish: a ledger record; the lab now sees every name.
        expect(
            tech.post(&format!("/api/v1/rounds/{id}/publish"), &json!({}))
                .await,
            403,
        )
        .await;
        let done = expect(
            expert
                .post(&format!("/api/v1/rounds/{id}/publish"), &json!({}))
                .await,
            200,
        )
        .await;
        assert_eq!(done["state"], "published");
        expect(
            expert
                .post(&format!("/api/v1/rounds/{id}/publish"), &json!({}))
                .await,
            409,
        )
        .await;
        expect(
            server
                .login("expert")
                .await
                .send(
                    reqwest::Method::DELETE,
                    &format!("/api/v1/rounds/{id}/labs/{gangu_id}/exclusion"),
                    None,
                )
                .await,
            409,
        )
        .await;
        let named = expect(tech.get(&format!("/api/v1/rounds/{id}/report")).await, 200).await;
        assert_eq!(labs_by_code(&named), names);

        // Publishing issued the report as a numbered document signed by the
        // expert: the same number for the lab, a DCC valid against 3.3.0, a
        // PDF with the title, number and results, its QR code pointing at
        // the public verification page, where the number is known.
        let number = done["report_number"]
            .as_str()
            .expect("a report number")
            .to_owned();
        assert!(number.starts_with("JL-"), "{number}");
        let seen_number = expect(tech.get(&format!("/api/v1/rounds/{id}")).await, 200).await;
        assert_eq!(seen_number["report_number"], number.as_str());
        let mine = expect(
            expert
                .get(&format!("/api/v1/certificates?source_id={id}"))
                .await,
            200,
        )
        .await;
        assert_eq!(mine[0]["number"], number.as_str());
        assert_eq!(mine[0]["source_kind"], "round_report");
        assert_eq!(mine[0]["can_manage"], true);
        assert_eq!(mine[0]["instrument"], "Fluke 732C 10 V 标准");
        let res = tech
            .get(&format!("/api/v1/certificates/{number}/dcc.xml"))
            .await;
        assert_eq!(res.status(), 200);
        let xml = res.text().await.expect("xml");
        assert!(xml.contains(&format!(
            "<dcc:uniqueIdentifier>{number}</dcc:uniqueIdentifier>"
        )));
        assert!(
            xml.contains("<dcc:charsXMLList>L01 L02 L03</dcc:charsXMLList>"),
            "{xml}"
        );
        assert!(xml.contains("10.000012"), "a lab's value as submitted");
        assert!(xml.contains(r"<si:unit>\volt</si:unit>"));
        if let Some(xsd) = crate::certificates::reference_xsd() {
            let file = tempfile::NamedTempFile::new().expect("tmp");
            std::fs::write(file.path(), &xml).expect("write");
            if let Some(o) = crate::certificates::run_tool(
                "xmllint",
                &[
                    "--nonet".as_ref(),
                    "--noout".as_ref(),
                    "--schema".as_ref(),
                    xsd.as_os_str(),
                    file.path().as_os_str(),
                ],
            ) {
                assert!(
                    o.status.success(),
                    "{}\n{xml}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        } else {
            eprintln!("skipped: no DCC reference schemas (../shared/reference/dcc)");
        }
        let res = tech
            .get(&format!("/api/v1/certificates/{number}/pdf"))
            .await;
        if res.status() == 503 {
            eprintln!("skipped: no CJK font on this machine");
        } else {
            assert_eq!(res.status(), 200);
            let pdf = res.bytes().await.expect("pdf");
            if let Some(text) = text_of(&pdf) {
                for needle in [
                    "计量比对结果报告",
                    number.as_str(),
                    "10 V 直流电压比对",
                    "秦安县计量检定所 (L01)",
                    "通渭县计量检定所 (L02)",
                    "10.000012",
                    "满意",
                    "李明华",
                ] {
                    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
                }
            }
            if let Some(url) = crate::certificates::decode_qr(&pdf) {
                assert_eq!(url, format!("{}/verify/{number}", server.base));
            }
        }
        let public = expect(
            Client::new(&server.base)
                .get(&format!("/api/v1/certificates/{number}"))
                .await,
            200,
        )
        .await;
        assert_eq!(public["status"], "valid");
        assert_eq!(public["instrument"], "Fluke 732C 10 V 标准");
        // Someone from another lab of the province may not download it.
        let res = wen.get(&format!("/api/v1/certificates/{number}/pdf")).await;
        assert!(
            matches!(res.status().as_u16(), 403 | 404),
            "{}",
            res.status()
        );
        let seen = expect(tech.get(&format!("/api/v1/rounds/{id}")).await, 200).await;
        assert_eq!(seen["labs"][1]["name"], "通渭县计量检定所");
        assert!(
            seen["labs"][1].get("result").is_none(),
            "values stay in the report"
        );

        // The record verifies against the signed head (once one covers it).
        let mut bundle = None;
        for _ in 0..100 {
            let res = tech
                .get(&format!("/api/v1/ledger/records/round_report/{id}"))
                .await;
            if res.status() == 200 {
                bundle = Some(res.json::<Bundle>().await.expect("bundle"));
                break;
            }
            assert_eq!(res.status(), 503, "{:?}", res.text().await);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let bundle = bundle.expect("a signed head covers the record");
        let head = expert.json("/api/v1/ledger/head").await;
        let key = verifying_key_from_hex(head["public_key"].as_str().expect("key")).expect("key");
        let checked = verify_bundle_with_key(&bundle, &key);
        assert!(checked.ok, "{checked}");
        let payload: Value =
            serde_json::from_str(bundle.records[0].payload.as_str()).expect("payload");
        assert_eq!(payload["record"], "round_report");
        // Canonical JSON writes 2.0 as 2: compare the numbers.
        for key in ["value", "u", "U", "k"] {
            assert_eq!(
                payload["report"]["reference"][key].as_f64(),
                report["reference"][key].as_f64(),
                "{key}"
            );
        }
        // Someone from another lab of the province may not read it.
        expect(
            wen.get(&format!("/api/v1/ledger/records/round_report/{id}"))
                .await,
            403,
        )
        .await;
        server.stop().await;
    }
);

backend_tests!(
    deadlines_too_few_labs_and_assigned_values,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let expert = server.login("expert").await;
        let tech = server.login("tech").await;
        let qinan_id = server.institution_id("秦安县计量检定所").await;
        let tongwei_id = server.institution_id("通渭县计量检定所").await;

        // The deadline passes: refused with a clear error.
        let soon = rfc3339(time::OffsetDateTime::now_utc() + time::Duration::seconds(2));
        let id = create(
        &expert,
        json!({"title": "质量比对", "quantity": "质量", "unit": "g", "deadline": soon, "method": "auto", "options": {}}),
    )
    .await;
        expect(
            expert
                .post(
                    &format!("/api/v1/rounds/{id}/labs"),
                    &json!({"lab_ids": [qinan_id, tongwei_id]}),
                )
                .await,
            200,
        )
        .await;
        let body = json!({"value": 100.0012, "expanded_uncertainty": 0.0004, "k": 2});
        expect(
            put(
                &tech,
                &format!("/api/v1/rounds/{id}/results/{qinan_id}"),
                &body,
            )
            .await,
            200,
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
        let v = expect(
            put(
                &tech,
                &format!("/api/v1/rounds/{id}/results/{qinan_id}"),
                &body,
            )
            .await,
            409,
        )
        .await;
        assert!(
            v["message"].as_str().unwrap_or_default().contains("截止"),
            "{v}"
        );
        // One lab: the report says why there is no reference value.
        let v = expect(
            expert.get(&format!("/api/v1/rounds/{id}/report")).await,
            422,
        )
        .await;
        assert!(
            v["message"].as_str().unwrap_or_default().contains("2"),
            "{v}"
        );
        expect(
            expert
                .post(&format!("/api/v1/rounds/{id}/close"), &json!({}))
                .await,
            200,
        )
        .await;
        expect(
            expert
                .post(&format!("/api/v1/rounds/{id}/publish"), &json!({}))
                .await,
            409,
        )
        .await;

        // An assigned value (ISO 13528 E.4's x_pt, u(x_pt), σ_pt): the scores
        // of the published example, and the same JSON as the CLI. Blind: the
        // lab sees nothing until publication, then codes only when published
        // without names.
        let id = create(
            &expert,
            json!({"title": "饲料中汞 (IMEP-111)", "quantity": "质量分数", "unit": "mg/kg",
               "deadline": in_days(3), "method": "assigned",
               "options": {"assigned": 0.044, "assigned_u": 0.0041, "sigma_pt": 0.0066}}),
        )
        .await;
        expect(
            expert
                .post(
                    &format!("/api/v1/rounds/{id}/labs"),
                    &json!({"lab_ids": [qinan_id, tongwei_id]}),
                )
                .await,
            200,
        )
        .await;
        expect(
            put(
                &tech,
                &format!("/api/v1/rounds/{id}/results/{qinan_id}"),
                &json!({"value": 0.0135, "expanded_uncertainty": 0.00108, "k": 1.732}),
            )
            .await,
            200,
        )
        .await;
        expect(
            put(
                &server.login("tongwei.tech").await,
                &format!("/api/v1/rounds/{id}/results/{tongwei_id}"),
                &json!({"value": 0.053, "expanded_uncertainty": 0.007, "k": 2}),
            )
            .await,
            200,
        )
        .await;
        expect(
            expert
                .post(&format!("/api/v1/rounds/{id}/close"), &json!({}))
                .await,
            200,
        )
        .await;
        expect(tech.get(&format!("/api/v1/rounds/{id}/report")).await, 409).await;
        // No exclusion from an assigned value.
        expect(
            put(
                &expert,
                &format!("/api/v1/rounds/{id}/labs/{tongwei_id}/exclusion"),
                &json!({"reason": "x"}),
            )
            .await,
            422,
        )
        .await;
        let report = expect(
            expert.get(&format!("/api/v1/rounds/{id}/report")).await,
            200,
        )
        .await;
        let l = &report["labs"];
        let near = |v: &Value, want: f64, half: f64| {
            let got = v.as_f64().expect("number");
            assert!((got - want).abs() <= half, "{got} vs {want}");
        };
        // E.4 rows L23 and L01.
        near(&l[0]["z"], -4.62, 0.005);
        near(&l[0]["z_prime"], -3.93, 0.005);
        near(&l[0]["zeta"], -7.35, 0.005);
        near(&l[0]["en"], -3.69, 0.005);
        near(&l[1]["d_percent"], 20.5, 0.05);
        near(&l[1]["zeta"], 1.67, 0.005);
        let names = labs_by_code(&report);
        let csv = format!(
            "lab,value,U,k\n{},0.0135,0.00108,1.732\n{},0.053,0.007,2\n",
            names[0], names[1]
        );
        let file = Temp::new("e4.csv", csv.as_bytes());
        let cli_report = cli::json(&[
            "compare",
            "--input",
            &file.p(),
            "--assigned",
            "0.044",
            "--assigned-u",
            "0.0041",
            "--sigma-pt",
            "0.0066",
        ]);
        assert_eq!(strip(report), cli_report);
        expect(
            expert
                .post(
                    &format!("/api/v1/rounds/{id}/publish"),
                    &json!({"names": false}),
                )
                .await,
            200,
        )
        .await;
        let theirs = expect(tech.get(&format!("/api/v1/rounds/{id}/report")).await, 200).await;
        assert_eq!(labs_by_code(&theirs), ["秦安县计量检定所 (L01)", "L02"]);
        // Its report document says what was published: codes only. mg/kg
        // has no D-SI form, so there is no DCC (said so), but a PDF.
        let seen = expect(tech.get(&format!("/api/v1/rounds/{id}")).await, 200).await;
        let number = seen["report_number"].as_str().expect("a number").to_owned();
        let v = expect(
            tech.get(&format!("/api/v1/certificates/{number}/dcc.xml"))
                .await,
            422,
        )
        .await;
        assert!(
            v["message"].as_str().expect("message").contains("mg/kg"),
            "{v}"
        );
        if let Some(text) = pdf_text(&tech, &number).await {
            for needle in [
                "计量比对结果报告",
                number.as_str(),
                "L01",
                "L02",
                "0.0135",
                "0.053",
            ] {
                assert!(text.contains(needle), "{needle:?} not in:\n{text}");
            }
            assert!(
                !text.contains("秦安县计量检定所"),
                "published without names:\n{text}"
            );
        }
        server.stop().await;
    }
);

backend_tests!(
    the_demo_rounds_and_a_tampered_report,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let dir = tempfile::tempdir().expect("dir");
        let report = jiliang_server::demo::lab::seed(&server.state.store, dir.path())
            .await
            .expect("demo lab");
        assert_eq!(report.rounds_created, 2);
        let again = jiliang_server::demo::lab::seed(&server.state.store, dir.path())
            .await
            .expect("demo lab again");
        assert_eq!(again.rounds_created, 0, "seeding again changes nothing");

        // The expert sees one published and one open round at once.
        let expert = server.login("expert").await;
        let list = expect(expert.get("/api/v1/rounds").await, 200).await;
        let items = list["items"].as_array().expect("items").clone();
        let published = items
            .iter()
            .find(|r| r["title"] == jiliang_server::rounds::demo::PUBLISHED_TITLE)
            .expect("published round");
        assert_eq!(published["state"], "published");
        assert_eq!(published["submitted"], 4);
        let open = items
            .iter()
            .find(|r| r["title"] == jiliang_server::rounds::demo::OPEN_TITLE)
            .expect("open round");
        assert_eq!(open["state"], "open");
        let report = expect(
            expert
                .get(&format!("/api/v1/rounds/{}/report", id_of(published)))
                .await,
            200,
        )
        .await;
        assert_eq!(report["labs"][2]["included"], false);
        // The blind open round: the technician sees no report.
        let tech = server.login("tech").await;
        expect(
            tech.get(&format!("/api/v1/rounds/{}/report", id_of(open)))
                .await,
            409,
        )
        .await;

        // The database verifies; a changed report in the row is found.
        let head = expert.json("/api/v1/ledger/head").await;
        let key = verifying_key_from_hex(head["public_key"].as_str().expect("key")).expect("key");
        let db = jiliang_server::ledger::verify::verify_database(&server.state.store, Some(key))
            .await
            .expect("verify");
        assert!(db.ok, "{:?}", db.problems);
        jiliang_server::store::testing::execute(
        &server.state.store,
        "UPDATE rounds SET record = REPLACE(record, '10.000031', '10.000001') WHERE state = 'published'",
    )
    .await
    .expect("tamper");
        let db = jiliang_server::ledger::verify::verify_database(&server.state.store, Some(key))
            .await
            .expect("verify");
        assert!(!db.ok);
        assert!(
            db.problems
                .iter()
                .any(|p| format!("{p:?}").contains("round_report")),
            "{:?}",
            db.problems
        );
        server.stop().await;
    }
);
