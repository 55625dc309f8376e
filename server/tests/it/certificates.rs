//! Calibration certificates for the demo lab's finished comparison: issued
//! by the expert only, numbered, refused twice; the public verification
//! document (no login) with a ledger proof that verifies; an unknown
//! number said to be unknown, and rate-limited; the DCC valid against the
//! 3.3.0 schema; the PDF with extractable Chinese text; revoking and
//! superseding, each shown publicly; the database still verifies.

use crate::common::{Backend, Client, TestServer};
use jiliang_ledger::{Bundle, verify_bundle_with_key, verifying_key_from_hex};
use jiliang_protocol::comparison::ComparisonView;
use jiliang_server::demo::lab;
use jiliang_server::ledger::verify::verify_database;
use serde_json::{Value, json};

async fn status_json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    (status, v)
}

/// The demo's ended session's finished comparison id.
async fn finished_comparison(server: &TestServer, expert: &Client) -> String {
    let dir = tempfile::tempdir().expect("dir");
    lab::seed(&server.state.store, dir.path())
        .await
        .expect("demo lab");
    let sessions: Vec<Value> = expert
        .json("/api/v1/sessions?limit=500")
        .await
        .as_array()
        .cloned()
        .expect("list");
    let ended = sessions
        .iter()
        .find(|s| s["title"] == lab::ENDED_TITLE)
        .and_then(|s| s["id"].as_str())
        .expect("ended session")
        .to_owned();
    let view: ComparisonView = expert
        .json(&format!("/api/v1/sessions/{ended}/comparison"))
        .await
        .pipe(serde_json::from_value)
        .expect("view");
    view.finished.expect("finished").record.id
}

/// `(year, seq)` of `JL-<year>-<seq>`.
fn number_parts(n: &str) -> (i32, u32) {
    let mut parts = n.split('-').skip(1);
    let year = parts.next().and_then(|y| y.parse().ok()).expect("year");
    let seq = parts.next().and_then(|s| s.parse().ok()).expect("seq");
    (year, seq)
}

/// The public document's ledger bundle verified with `key`, and the
/// payload of its `certificate_status` record for `number`.
#[track_caller]
fn proven_status(public: &Value, key: &jiliang_ledger::VerifyingKey, number: &str) -> Value {
    let bundle: Bundle = serde_json::from_value(public["ledger"].clone()).expect("bundle");
    let report = verify_bundle_with_key(&bundle, key);
    assert!(report.ok, "{report}");
    let kinds: Vec<&str> = bundle.records.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["certificate", "certificate_status"]);
    assert!(bundle.records.iter().all(|r| r.id == number));
    serde_json::from_str(&bundle.records[1].payload).expect("payload")
}

/// The first QR code on the first page of `pdf` (pdftoppm, then zbarimg),
/// or `None` (with a message) where the tools are missing.
pub(crate) fn decode_qr(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("doc.pdf");
    std::fs::write(&file, pdf).expect("write");
    let out = dir.path().join("page");
    let o = run_tool(
        "pdftoppm",
        &[
            "-r".as_ref(),
            "150".as_ref(),
            "-f".as_ref(),
            "1".as_ref(),
            "-l".as_ref(),
            "1".as_ref(),
            "-png".as_ref(),
            "-singlefile".as_ref(),
            file.as_os_str(),
            out.as_os_str(),
        ],
    )?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = dir.path().join("page.png");
    let o = run_tool(
        "zbarimg",
        &["--quiet".as_ref(), "--raw".as_ref(), png.as_os_str()],
    )?;
    assert!(
        o.status.success(),
        "no QR code found on the page: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).expect("utf-8");
    let first = text.lines().next().expect("one code").to_owned();
    Some(first)
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

pub(crate) fn reference_xsd() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("JILIANG_DCC_REFERENCE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/dcc")
        });
    let xsd = dir.join("v3.3.0/dcc.xsd");
    xsd.exists().then_some(xsd)
}

pub(crate) fn run_tool(tool: &str, args: &[&std::ffi::OsStr]) -> Option<std::process::Output> {
    match std::process::Command::new(tool).args(args).output() {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!("skipped: {tool} not runnable ({e})");
            None
        }
    }
}

crate::backend_tests!(
    certificates_are_issued_verified_and_revoked,
    |backend| async move {
        let Some(server) = TestServer::start_seeded(backend).await else {
            return;
        };
        let expert = server.login("expert").await;
        let admin = server.login("admin").await;
        let tech = server.login("tech").await;
        let anon = Client::new(&server.base);
        let record = finished_comparison(&server, &expert).await;
        let issue = |c: &Client, body: Value| {
            let c = c.clone();
            async move { status_json(c.post("/api/v1/certificates", &body).await).await }
        };
        let body = json!({"source_kind": "raw_record", "source_id": record});

        // Who may not issue, and bad requests.
        let (s, v) = issue(&anon, body.clone()).await;
        assert_eq!(s, 401, "{v}");
        let (s, v) = issue(&tech, body.clone()).await;
        assert_eq!(s, 403, "a technician does not sign: {v}");
        let (s, v) = issue(&admin, body.clone()).await;
        assert_eq!(s, 403, "an admin does not sign: {v}");
        assert!(v["message"].is_string());
        let (s, v) = issue(
            &expert,
            json!({"source_kind": "reading_batch", "source_id": record}),
        )
        .await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["message"]
                .as_str()
                .expect("message")
                .contains("source_kind")
        );
        let (s, _) = issue(
            &expert,
            json!({"source_kind": "raw_record", "source_id": "nope"}),
        )
        .await;
        assert_eq!(s, 404);
        // A comparison id is no round.
        let (s, _) = issue(
            &expert,
            json!({"source_kind": "round_report", "source_id": record}),
        )
        .await;
        assert_eq!(s, 404);
        let (s, _) = issue(
            &expert,
            json!({"source_kind": "raw_record", "source_id": uuid::Uuid::now_v7()}),
        )
        .await;
        assert_eq!(s, 404);
        let (s, v) = issue(&expert, json!({"source_kind": "raw_record"})).await;
        assert!((400..500).contains(&s), "missing source_id: {s} {v}");
        let (s, _) = issue(
            &expert,
            json!({"source_kind": "raw_record", "source_id": record, "extra": 1}),
        )
        .await;
        assert!((400..500).contains(&s), "unknown field");

        // Issued, with the next number of the year (the demo's published
        // round report has one already).
        let (s, v) = issue(&expert, body.clone()).await;
        assert_eq!(s, 201, "{v}");
        let first = v["number"].as_str().expect("number").to_owned();
        let (year, seq) = number_parts(&first);
        assert_eq!(year, time::OffsetDateTime::now_utc().year());
        assert!(seq >= 1);
        assert_eq!(v["status"], "valid");
        assert_eq!(v["lab"], "甘肃省计量研究院");
        assert_eq!(v["customer"], "秦安县计量检定所");
        assert_eq!(v["verdict"], "pass");
        assert_eq!(v["can_manage"], true);
        // Not twice for the same record.
        let (s, v) = issue(&expert, body.clone()).await;
        assert_eq!(s, 409, "{v}");
        assert!(v["message"].as_str().expect("message").contains(&first));

        // The lists: the expert's, the customer lab's technician's, one record's.
        let list = expert.json("/api/v1/certificates").await;
        assert!(
            list.as_array()
                .expect("list")
                .iter()
                .any(|c| c["number"] == first.as_str())
        );
        let list = tech.json("/api/v1/certificates").await;
        let mine: Vec<&Value> = list
            .as_array()
            .expect("list")
            .iter()
            .filter(|c| c["source_kind"] == "raw_record")
            .collect();
        assert_eq!(mine.len(), 1, "the customer's technician sees it");
        assert_eq!(mine[0]["can_manage"], false);
        let list = expert
            .json(&format!("/api/v1/certificates?source_id={record}"))
            .await;
        assert_eq!(list.as_array().map(Vec::len), Some(1));

        // The public document, with a ledger proof that verifies.
        let (s, v) = status_json(anon.get(&format!("/api/v1/certificates/{first}")).await).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["status"], "valid");
        assert_eq!(v["lab"], "甘肃省计量研究院");
        assert!(v["instrument"].as_str().is_some_and(|i| !i.is_empty()));
        assert!(
            v.get("ledger").is_some_and(|l| !l.is_null()),
            "a head covers it: {v}"
        );
        // Results are not public.
        assert!(v.get("document").is_none() && !v.to_string().contains("expanded_uncertainty"));
        let head = anon.json("/api/v1/ledger/head").await;
        let key = verifying_key_from_hex(head["public_key"].as_str().expect("key")).expect("key");
        let bundle: Bundle = serde_json::from_value(v["ledger"].clone()).expect("bundle");
        assert_eq!(bundle.records.len(), 1);
        assert_eq!(bundle.records[0].kind.as_str(), "certificate");
        assert_eq!(bundle.records[0].id, first);
        let report = verify_bundle_with_key(&bundle, &key);
        assert!(report.ok, "{report}");
        let payload: Value =
            serde_json::from_str(bundle.records[0].payload.as_str()).expect("payload");
        assert_eq!(payload["number"], first.as_str());
        assert_eq!(payload["source_id"], record.as_str());

        // Unknown numbers, said so.
        for unknown in ["JL-2026-999999", "JL-1999-000001", "forged", "JL-2026-1%27"] {
            let (s, v) =
                status_json(anon.get(&format!("/api/v1/certificates/{unknown}")).await).await;
            assert_eq!(s, 404, "{unknown}: {v}");
            assert_eq!(v["code"], "not_found");
            assert!(
                v["message"].as_str().expect("message").contains("伪造"),
                "{v}"
            );
        }

        // Downloads: whoever may see it; nobody logged out.
        let (s, _) = status_json(
            anon.get(&format!("/api/v1/certificates/{first}/dcc.xml"))
                .await,
        )
        .await;
        assert_eq!(s, 401);
        let (s, _) =
            status_json(anon.get(&format!("/api/v1/certificates/{first}/pdf")).await).await;
        assert_eq!(s, 401);
        let res = tech
            .get(&format!("/api/v1/certificates/{first}/dcc.xml"))
            .await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with("application/xml")
        );
        let xml = res.text().await.expect("xml");
        assert!(xml.contains(&format!(
            "<dcc:uniqueIdentifier>{first}</dcc:uniqueIdentifier>"
        )));
        assert!(
            xml.contains(r"\kilo\pascal"),
            "the pressure pair's unit in D-SI form"
        );
        if let Some(xsd) = reference_xsd() {
            let file = tempfile::NamedTempFile::new().expect("tmp");
            std::fs::write(file.path(), &xml).expect("write");
            if let Some(o) = run_tool(
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
        let res = expert
            .get(&format!("/api/v1/certificates/{first}/pdf"))
            .await;
        if res.status() == 503 {
            eprintln!("skipped: no CJK font on this machine");
        } else {
            assert_eq!(res.status(), 200);
            assert_eq!(res.headers()["content-type"], "application/pdf");
            let pdf = res.bytes().await.expect("pdf");
            assert!(pdf.starts_with(b"%PDF-"));
            let file = tempfile::NamedTempFile::new().expect("tmp");
            std::fs::write(file.path(), &pdf).expect("write");
            if let Some(o) = run_tool(
                "pdftotext",
                &["-layout".as_ref(), file.path().as_os_str(), "-".as_ref()],
            ) {
                let text = String::from_utf8_lossy(&o.stdout);
                for needle in [
                    "校准证书",
                    first.as_str(),
                    "甘肃省计量研究院",
                    "秦安县计量检定所",
                    "合格",
                    "/verify/",
                ] {
                    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
                }
            }
            // The QR code, decoded from the rendered page, is the public
            // verification page of this number.
            if let Some(url) = decode_qr(&pdf) {
                assert_eq!(url, format!("{}/verify/{first}", server.base));
            }
        }

        // Revoking: a reason is required; the technician may not; then public.
        let revoke = |c: &Client, n: &str, body: Value| {
            let c = c.clone();
            let path = format!("/api/v1/certificates/{n}/revoke");
            async move { status_json(c.post(&path, &body).await).await }
        };
        let (s, v) = revoke(&expert, &first, json!({"reason": "  "})).await;
        assert_eq!(s, 422, "{v}");
        let (s, _) = revoke(&tech, &first, json!({"reason": "错误"})).await;
        assert_eq!(s, 403);
        let (s, _) = revoke(&expert, "JL-2026-999999", json!({"reason": "错误"})).await;
        assert_eq!(s, 404);
        let (s, v) = revoke(&expert, &first, json!({"reason": "参考标准证书过期"})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["status"], "revoked");
        let (s, _) = revoke(&expert, &first, json!({"reason": "again"})).await;
        assert_eq!(s, 409, "revoked is final");
        let v = anon.json(&format!("/api/v1/certificates/{first}")).await;
        assert_eq!(v["status"], "revoked");
        assert_eq!(v["status_reason"], "参考标准证书过期");
        // The revocation is a ledger record too, proven with the issue.
        let status = proven_status(&v, &key, &first);
        assert_eq!(status["status"], "revoked");
        assert_eq!(status["reason"], "参考标准证书过期");
        assert_eq!(
            status["certificate_leaf_hash"].as_str(),
            Some(bundle.records[0].leaf_hash.as_str())
        );

        // A revoked certificate cannot be superseded; a new one can be issued,
        // and replaced in turn.
        let (s, _) = issue(
            &expert,
            json!({"source_kind": "raw_record", "source_id": record,
        "supersedes": first, "reason": "更正"}),
        )
        .await;
        assert_eq!(s, 409);
        let (s, v) = issue(&expert, body.clone()).await;
        assert_eq!(s, 201, "{v}");
        let second = format!("JL-{year}-{:06}", seq + 1);
        assert_eq!(v["number"], second.as_str());
        let (s, v) = issue(
            &expert,
            json!({"source_kind": "raw_record", "source_id": record,
        "supersedes": second}),
        )
        .await;
        assert_eq!(s, 422, "a replacement needs its reason: {v}");
        let (s, v) = issue(
            &expert,
            json!({"source_kind": "raw_record", "source_id": record,
        "supersedes": second, "reason": "客户名称更正"}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let third = format!("JL-{year}-{:06}", seq + 2);
        assert_eq!(v["number"], third.as_str());
        assert_eq!(v["supersedes"], second.as_str());
        let v = anon.json(&format!("/api/v1/certificates/{second}")).await;
        assert_eq!(v["status"], "superseded");
        assert_eq!(v["superseded_by"], third.as_str());
        assert_eq!(v["status_reason"], "客户名称更正");
        let status = proven_status(&v, &key, &second);
        assert_eq!(status["status"], "superseded");
        assert_eq!(status["superseded_by"], third.as_str());
        // The replacement itself is valid: its proof is its issue record alone.
        let v = anon.json(&format!("/api/v1/certificates/{third}")).await;
        let bundle: Bundle = serde_json::from_value(v["ledger"].clone()).expect("bundle");
        assert_eq!(bundle.records.len(), 1);
        assert_eq!(bundle.records[0].kind, "certificate");
        // A reason past 500 characters is refused.
        let (s, v) = revoke(&expert, &third, json!({"reason": "错".repeat(501)})).await;
        assert_eq!(s, 422, "{v}");

        // Every certificate is in the log, re-derived from its row.
        let db = verify_database(&server.state.store, Some(key))
            .await
            .expect("verify");
        assert!(db.ok, "{:?}", db.problems);
        server.stop().await;
    }
);

crate::backend_tests!(unknown_numbers_are_rate_limited, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let anon = Client::new(&server.base);
    let mut limited = None;
    for i in 0..40 {
        let res = anon
            .get(&format!("/api/v1/certificates/JL-2026-{:06}", 900_000 + i))
            .await;
        if res.status() == 429 {
            limited = Some(i);
            assert!(res.headers().contains_key("retry-after"));
            break;
        }
        assert_eq!(res.status(), 404);
    }
    assert_eq!(limited, Some(30), "the 31st unknown number is refused");
    server.stop().await;
});

#[tokio::test]
async fn a_certificate_row_changed_behind_the_log_is_found() {
    let Some(server) = TestServer::start_seeded(Backend::Sqlite).await else {
        return;
    };
    let expert = server.login("expert").await;
    let record = finished_comparison(&server, &expert).await;
    let res = expert
        .post(
            "/api/v1/certificates",
            &json!({"source_kind": "raw_record", "source_id": record}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let number: String = res.json::<Value>().await.expect("json")["number"]
        .as_str()
        .expect("number")
        .to_owned();
    let store = &server.state.store;
    let c = store
        .get_certificate(&number)
        .await
        .expect("get")
        .expect("row");
    assert!(c.content.contains("\"pass\""));
    // The verdict turned to a fail in the row, the log untouched.
    let changed = jiliang_server::store::testing::execute(
        store,
        &format!(
            "UPDATE certificates SET content = replace(content, '\"pass\"', '\"fail\"') WHERE number = '{number}'"
        ),
    )
    .await
    .expect("update");
    assert_eq!(changed, 1);
    let db = verify_database(store, None).await.expect("verify");
    assert!(!db.ok);
    assert!(
        db.problems
            .iter()
            .any(|p| p.contains(&format!("certificate {number}")) && p.contains("differs")),
        "{:?}",
        db.problems
    );
    server.stop().await;
}

#[tokio::test]
async fn a_revocation_undone_behind_the_log_is_found() {
    let Some(server) = TestServer::start_seeded(Backend::Sqlite).await else {
        return;
    };
    let expert = server.login("expert").await;
    let record = finished_comparison(&server, &expert).await;
    let res = expert
        .post(
            "/api/v1/certificates",
            &json!({"source_kind": "raw_record", "source_id": record}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let number: String = res.json::<Value>().await.expect("json")["number"]
        .as_str()
        .expect("number")
        .to_owned();
    let res = expert
        .post(
            &format!("/api/v1/certificates/{number}/revoke"),
            &json!({"reason": "误签"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let store = &server.state.store;
    let db = verify_database(store, None).await.expect("verify");
    assert!(db.ok, "{:?}", db.problems);
    // Someone with database access makes it valid again: the log disagrees.
    jiliang_server::store::testing::execute(
        store,
        &format!(
            "UPDATE certificates SET status = 'valid', status_reason = NULL WHERE number = '{number}'"
        ),
    )
    .await
    .expect("update");
    let db = verify_database(store, None).await.expect("verify");
    assert!(
        db.problems
            .iter()
            .any(|p| p.contains(&format!("certificate_status {number}")) && p.contains("differs")),
        "{:?}",
        db.problems
    );
    // The public page still carries the revocation record, so the browser
    // sees the log say revoked while the row says valid.
    let v = Client::new(&server.base)
        .json(&format!("/api/v1/certificates/{number}"))
        .await;
    assert_eq!(v["status"], "valid");
    let bundle: Bundle = serde_json::from_value(v["ledger"].clone()).expect("bundle");
    let status = bundle
        .records
        .iter()
        .find(|r| r.kind == "certificate_status")
        .expect("the revocation record");
    assert!(status.payload.contains("\"revoked\""));
    // And a revocation written into the row without its record is named.
    jiliang_server::store::testing::execute(
        store,
        "UPDATE certificates SET status = 'revoked', status_reason = '改', status_at = issued_at, \
         status_by = issued_by WHERE source_kind = 'round_report'",
    )
    .await
    .expect("update");
    let db = verify_database(store, None).await.expect("verify");
    assert!(
        db.problems
            .iter()
            .any(|p| p.contains("is revoked but its status is not in the log")),
        "{:?}",
        db.problems
    );
    server.stop().await;
}
