//! Fuzzing the REST surface: mutated JSON bodies, query strings and path
//! segments thrown at every documented route of the real router, in
//! process (`tower::ServiceExt::oneshot` on `http::app`), as each role of
//! the authorization matrix, over a seeded temporary SQLite database.
//!
//! Every answer must come within a few seconds, below 500, and every 4xx
//! must be the error document `{code, message}`. Seeds are built from the
//! OpenAPI document itself (a valid-looking body and query per operation),
//! so a route added later is fuzzed without touching this file; the
//! mutations are the shared ones of `crates/protocol/tests/fuzz/mutate.rs`.
//!
//! Default run (part of the suite): `cargo nextest run -p jiliang-server
//! --test it rest_fuzz`; long run by hand:
//! `JILIANG_FUZZ_CASES=20000 cargo nextest run -p jiliang-server --test it rest_fuzz`.

#[path = "../../../crates/protocol/tests/fuzz/mutate.rs"]
mod mutate;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::common::{Backend, Client, TestServer};

/// Cases of the bounded run.
const DEFAULT_CASES: u32 = 600;
/// Longest any one request may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(10);
/// The matrix's callers (server/tests/it/authz_matrix.rs), anonymous first.
const ROLES: [&str; 6] = [
    "anon",
    "admin",
    "expert",
    "tianshui.admin",
    "tech",
    "trainee",
];

/// One documented operation with its seeds.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    template: String,
    body: Option<Vec<u8>>,
    query: Vec<u8>,
}

/// A value that satisfies `schema` as far as a seed needs: the first enum
/// variant, a real id for uuids, now for times, the lower bound for
/// numbers, a short text within the stated length.
fn example(doc: &Value, schema: &Value, ids: &[Uuid], depth: usize) -> Value {
    if depth > 6 {
        return Value::Null;
    }
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default();
        return example(doc, &doc["components"]["schemas"][name], ids, depth + 1);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema[key]
            .as_array()
            .and_then(|v| v.iter().find(|s| s["type"] != "null").or_else(|| v.first()))
        {
            return example(doc, first, ids, depth + 1);
        }
    }
    if let Some(v) = schema["enum"].as_array().and_then(|v| v.first()) {
        return v.clone();
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_owned(),
        _ if schema["properties"].is_object() => "object".to_owned(),
        _ => "null".to_owned(),
    };
    match ty.as_str() {
        "object" => {
            let mut out = serde_json::Map::new();
            if let Some(props) = schema["properties"].as_object() {
                for (k, v) in props {
                    out.insert(k.clone(), example(doc, v, ids, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let n = schema["minItems"].as_u64().unwrap_or(1).max(1);
            let item = example(doc, &schema["items"], ids, depth + 1);
            Value::Array(vec![item; usize::try_from(n).unwrap_or(1)])
        }
        "integer" => json!(schema["minimum"].as_i64().unwrap_or(1).max(1)),
        "number" => json!(1.5),
        "boolean" => json!(true),
        "string" => match schema["format"].as_str() {
            Some("uuid") => json!(ids[0]),
            Some("date-time") => json!(
                time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
            Some("date") => json!("2027-01-31"),
            Some("email") => json!("fuzz@demo.cn"),
            _ => {
                let min = schema["minLength"].as_u64().unwrap_or(1).max(1);
                json!("测".repeat(usize::try_from(min).unwrap_or(1)))
            }
        },
        _ => Value::Null,
    }
}

fn operations(doc: &Value, ids: &[Uuid]) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            // These end the fuzzing session's own login or change its
            // password; tests/it/accounts.rs covers them.
            if matches!(
                template.as_str(),
                "/api/v1/auth/logout" | "/api/v1/auth/password"
            ) {
                continue;
            }
            let body = op["requestBody"]["content"]["application/json"]["schema"]
                .as_object()
                .map(|_| {
                    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
                    serde_json::to_vec(&example(doc, schema, ids, 0)).expect("json")
                });
            let mut query = Vec::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] != "query" {
                    continue;
                }
                let v = match example(doc, &p["schema"], ids, 0) {
                    Value::String(s) => s,
                    Value::Null => continue,
                    other => other.to_string(),
                };
                if !query.is_empty() {
                    query.push(b'&');
                }
                query.extend_from_slice(
                    format!("{}={}", p["name"].as_str().unwrap_or("x"), v).as_bytes(),
                );
            }
            ops.push(Operation {
                method: method.to_uppercase(),
                template: template.clone(),
                body,
                query,
            });
        }
    }
    ops
}

/// Bytes a URI may carry as they are; everything else is percent-encoded
/// (a `%` is kept, so malformed escapes reach the server too).
fn uri_safe(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            b'-' | b'.' | b'_' | b'~' | b'=' | b'&' | b'%' | b'+' | b':' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What one case sends.
#[derive(Debug, Clone)]
struct Case {
    op: usize,
    role: usize,
    /// Index into the id pool for each path parameter (past the end: junk).
    path_pick: usize,
    body: Input,
    query: Input,
    content_type: u8,
}

#[derive(Debug, Clone)]
enum Input {
    Seed,
    Mutated(Vec<mutate::Op>),
    Raw(Vec<u8>),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => Just(Input::Seed),
        6 => proptest::collection::vec(mutate::op(), 1..6).prop_map(Input::Mutated),
        1 => proptest::collection::vec(any::<u8>(), 0..256).prop_map(Input::Raw),
    ]
}

fn case(ops: usize) -> impl Strategy<Value = Case> {
    (
        0..ops,
        0..ROLES.len(),
        any::<usize>(),
        input(),
        input(),
        0u8..8,
    )
        .prop_map(|(op, role, path_pick, body, query, content_type)| Case {
            op,
            role,
            path_pick,
            body,
            query,
            content_type,
        })
}

fn realise(seed: &[u8], input: &Input, tokens: &[Vec<u8>]) -> Vec<u8> {
    match input {
        Input::Seed => seed.to_vec(),
        Input::Mutated(ops) => mutate::apply(seed, ops, tokens),
        Input::Raw(b) => b.clone(),
    }
}

const JUNK_SEGMENTS: &[&str] = &[
    "x",
    "0",
    "%00",
    "..%2F..%2Fetc",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffffff",
    "%E9%9B%B6",
    "reading_batch",
    "room_event",
];

#[test]
fn every_route_survives_mutated_input() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (server, clients, pool) = rt.block_on(async {
        let server = TestServer::start_seeded(Backend::Sqlite)
            .await
            .expect("sqlite");
        let mut clients = Vec::new();
        for role in ROLES {
            clients.push(if role == "anon" {
                Client::new(&server.base)
            } else {
                server.login(role).await
            });
        }
        // Ids that name real things, so mutated requests reach past the
        // lookups: institutions, people, a session, a device.
        let tech = &clients[4];
        let qinan = server.institution_id("秦安县计量检定所").await;
        let mut pool = vec![qinan, server.user_id("tech").await];
        pool.push(server.institution_id("天水市计量测试所").await);
        pool.push(server.user_id("trainee").await);
        let device: Value = tech
            .post(
                "/api/v1/devices",
                &json!({"lab_id": qinan, "name": "表", "kind": "仪表",
                        "quantity": "voltage", "unit": "V"}),
            )
            .await
            .json()
            .await
            .expect("device");
        if let Some(id) = device["device"]["id"]
            .as_str()
            .or(device["id"].as_str())
            .and_then(|s| s.parse().ok())
        {
            pool.push(id);
        }
        let session: Value = clients[2]
            .post(
                "/api/v1/sessions",
                &json!({"title": "模糊测试", "duration_minutes": 60, "lab_ids": [qinan],
                        "scheduled_start": time::OffsetDateTime::now_utc()
                            .format(&time::format_description::well_known::Rfc3339)
                            .expect("time")}),
            )
            .await
            .json()
            .await
            .expect("session");
        if let Some(id) = session["id"].as_str().and_then(|s| s.parse().ok()) {
            pool.push(id);
        }
        (server, clients, pool)
    });
    let app = jiliang_server::http::app(server.state.clone());
    let doc = serde_json::to_value(jiliang_server::http::api().1).expect("openapi");
    let ops = operations(&doc, &pool);
    assert!(ops.len() > 40, "only {} operations documented", ops.len());
    let tokens = mutate::tokens();
    let peer: SocketAddr = "192.0.2.7:40000".parse().expect("addr");

    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    let started = Instant::now();
    let mut config = mutate::config(DEFAULT_CASES);
    // Where a failing case is kept: rest_fuzz.proptest-regressions beside
    // this file, replayed first by every later run.
    config.source_file = Some(file!());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(ops.len()), |c| {
        let op = &ops[c.op];
        let client = &clients[c.role];
        let mut path = op.template.clone();
        for (i, param) in ["{id}", "{device_id}", "{token}", "{kind}"]
            .iter()
            .enumerate()
        {
            let pick = c.path_pick.rotate_left(u32::try_from(i * 8).unwrap_or(0));
            let all = pool.len() + JUNK_SEGMENTS.len();
            let seg = match pick % all {
                k if k < pool.len() => pool[k].to_string(),
                k => JUNK_SEGMENTS[k - pool.len()].to_owned(),
            };
            path = path.replace(param, &seg);
        }
        let query = realise(&op.query, &c.query, &tokens);
        let uri = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{}", uri_safe(&query))
        };
        let mut req = Request::builder().method(op.method.as_str()).uri(&uri);
        if let Some(cookie) = &client.cookie {
            req = req.header(header::COOKIE, cookie);
        }
        if let Some(csrf) = &client.csrf {
            req = req.header("x-csrf-token", csrf);
        }
        let body = op
            .body
            .as_ref()
            .map(|seed| realise(seed, &c.body, &tokens))
            .unwrap_or_default();
        req = match c.content_type {
            0 => req,
            1 => req.header(header::CONTENT_TYPE, "text/plain"),
            2 => req.header(header::CONTENT_TYPE, "application/json; charset=utf-8"),
            _ => req.header(header::CONTENT_TYPE, "application/json"),
        };
        let Ok(mut req) = req.body(Body::from(body)) else {
            // Not a request the client library can even form.
            return Ok(());
        };
        req.extensions_mut().insert(ConnectInfo(peer));
        let (status, bytes) = rt.block_on(async {
            let res = tokio::time::timeout(HANG, app.clone().oneshot(req))
                .await
                .map_err(|_| {
                    TestCaseError::fail(format!("{} {uri}: no answer in {HANG:?}", op.method))
                })?
                .map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let status = res.status().as_u16();
            let bytes = tokio::time::timeout(HANG, axum::body::to_bytes(res.into_body(), 16 << 20))
                .await
                .map_err(|_| TestCaseError::fail(format!("{} {uri}: body never ended", op.method)))?
                .map_err(|e| TestCaseError::fail(format!("{e}")))?;
            Ok::<_, TestCaseError>((status, bytes))
        })?;
        *statuses.borrow_mut().entry(status).or_default() += 1;
        prop_assert!(
            status < 500,
            "{} {uri} as {}: {status} {}",
            op.method,
            ROLES[c.role],
            String::from_utf8_lossy(&bytes)
        );
        if status >= 400 {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                TestCaseError::fail(format!(
                    "{} {uri}: {status} answer is not JSON ({e}): {}",
                    op.method,
                    String::from_utf8_lossy(&bytes)
                ))
            })?;
            prop_assert!(
                v["code"].is_string() && v["message"].is_string(),
                "{} {uri}: {status} answer is not {{code, message}}: {v}",
                op.method
            );
        }
        Ok(())
    });
    let took = started.elapsed();
    eprintln!(
        "rest fuzz: {} cases over {} operations in {took:?}; statuses {:?}",
        runner.config().cases,
        ops.len(),
        statuses.borrow()
    );
    rt.block_on(server.stop());
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Found by this harness: a plain GET of the public time socket got axum's
/// text rejection (400, "Connection header did not include 'upgrade'")
/// instead of the error document. Every socket route answers 426 with it.
#[tokio::test]
async fn a_plain_get_of_any_socket_is_an_error_document() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let tech = server.login("tech").await;
    let doc = tech.json("/api/openapi.json").await;
    let mut sockets = 0;
    for template in doc["paths"].as_object().expect("paths").keys() {
        if !template.ends_with("/ws") {
            continue;
        }
        sockets += 1;
        let res = tech
            .get(&template.replace("{id}", &uuid::Uuid::nil().to_string()))
            .await;
        let status = res.status().as_u16();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            v["code"].is_string() && v["message"].is_string(),
            "GET {template}: {status} {v}"
        );
    }
    assert!(sockets >= 3, "only {sockets} socket routes");
    let res = tech.get("/api/v1/time/ws").await;
    assert_eq!(res.status(), 426);
    server.stop().await;
}
