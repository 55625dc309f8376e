//! The limits the OpenAPI document states are the limits the server
//! enforces. For each listed operation the test reads every bound of its
//! body fields and query parameters from `/api/openapi.json` (lengths,
//! ranges, item counts) and sends the value on the bound (accepted) and the
//! one just past it (refused with 422 or 400 and `{code, message}`). A limit
//! changed on one side only fails here. Also: per-route body limits (413).

use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::{Backend, Client, TestServer};
use reqwest::Method;
use serde_json::{Map, Value, json};

static UNIQUE: AtomicU32 = AtomicU32::new(1);

fn unique() -> u32 {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// A string of exactly `len` characters that passes the field's other rules
/// (pattern, uniqueness), so that only the length decides.
fn filler(field: &str, len: usize) -> String {
    let n = unique();
    let pad = |head: String, tail: &str, c: char| {
        let fill = len.saturating_sub(head.chars().count() + tail.chars().count());
        let s = format!("{head}{}{tail}", c.to_string().repeat(fill));
        s.chars().take(len).collect::<String>()
    };
    match field {
        "username" => pad(format!("u{n}x"), "", 'a'),
        "password" | "new_password" => pad("Aa1!".to_owned(), "", 'z'),
        "email" => pad(format!("e{n}"), "@demo.cn", 'x'),
        "phone" => pad(format!("+{n}"), "", '7'),
        // A valid UCUM code of any length: a product of volts.
        "unit" if len % 2 == 1 => format!("V{}", ".V".repeat(len / 2)),
        "unit" if len > 0 => format!("mV{}", ".V".repeat(len / 2 - 1)),
        "region_code" => pad(String::new(), "", '6'),
        "key" | "login" | "q" | "event" => pad(format!("k{n}"), "", 'k'),
        // Chinese text: one character, one code point, three bytes.
        _ => pad(format!("{n}"), "", '测'),
    }
}

/// Which resolved schema a `$ref` names.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// One bound to try: the value on it and the value just past it.
struct Probe {
    what: String,
    ok: Value,
    past: Value,
}

/// Every bound of one property schema, as probes.
fn probes(name: &str, schema: &Value, example_item: Option<&Value>) -> Vec<Probe> {
    let mut out = Vec::new();
    let num = |k: &str| schema[k].as_f64();
    if let Some(max) = schema["maxLength"].as_u64() {
        let max = usize::try_from(max).expect("small");
        out.push(Probe {
            what: format!("{name} maxLength {max}"),
            ok: json!(filler(name, max)),
            past: json!(filler(name, max + 1)),
        });
    }
    if let Some(min) = schema["minLength"].as_u64().filter(|m| *m > 0) {
        let min = usize::try_from(min).expect("small");
        out.push(Probe {
            what: format!("{name} minLength {min}"),
            ok: json!(filler(name, min)),
            past: json!(filler(name, min - 1)),
        });
    }
    let integer = schema["type"] == "integer"
        || schema["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("integer")));
    if let Some(max) = num("maximum") {
        let past = if integer {
            json!(max as i64 + 1)
        } else {
            json!(max + 0.5)
        };
        let ok = if integer {
            json!(max as i64)
        } else {
            json!(max)
        };
        out.push(Probe {
            what: format!("{name} maximum {max}"),
            ok,
            past,
        });
    }
    if let Some(min) = num("minimum") {
        let past = if integer {
            json!(min as i64 - 1)
        } else {
            json!(min - 0.5)
        };
        let ok = if integer {
            json!(min as i64)
        } else {
            json!(min)
        };
        out.push(Probe {
            what: format!("{name} minimum {min}"),
            ok,
            past,
        });
    }
    if let Some(min) = num("exclusiveMinimum") {
        out.push(Probe {
            what: format!("{name} exclusiveMinimum {min}"),
            ok: json!(min + 1e-6),
            past: json!(min),
        });
    }
    if let Some(item) = example_item {
        let list = |n: usize| Value::Array(vec![item.clone(); n]);
        if let Some(max) = schema["maxItems"].as_u64() {
            let max = usize::try_from(max).expect("small");
            out.push(Probe {
                what: format!("{name} maxItems {max}"),
                ok: list(max),
                past: list(max + 1),
            });
        }
        if let Some(min) = schema["minItems"].as_u64().filter(|m| *m > 0) {
            let min = usize::try_from(min).expect("small");
            out.push(Probe {
                what: format!("{name} minItems {min}"),
                ok: list(min),
                past: list(min - 1),
            });
        }
    }
    out
}

fn refused(status: u16) -> bool {
    matches!(status, 400 | 422)
}

/// Sends one request and checks it against the expectation; returns a
/// failure line or nothing.
async fn expect(
    client: &Client,
    method: &Method,
    path: &str,
    body: Option<&Value>,
    accept: bool,
    what: &str,
) -> Option<String> {
    let res = client.send(method.clone(), path, body).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status >= 500 {
        return Some(format!("{method} {path} {what}: {status} {text}"));
    }
    if accept && refused(status) {
        return Some(format!(
            "{method} {path} {what}: the value on the bound was refused: {text}"
        ));
    }
    if !accept {
        if !refused(status) {
            return Some(format!(
                "{method} {path} {what}: the value past the bound got {status}, not 422/400"
            ));
        }
        if !(doc["code"].is_string() && doc["message"].is_string()) {
            return Some(format!(
                "{method} {path} {what}: refusal is not {{code, message}}: {text}"
            ));
        }
    }
    None
}

/// One operation under test: who calls it, where, and a valid body (fresh
/// per call, so unique fields stay unique).
struct Op<'a> {
    method: Method,
    template: &'static str,
    path: String,
    client: &'a Client,
    body: Box<dyn Fn() -> Value + 'a>,
}

backend_tests!(stated_limits_are_enforced, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let doc = Client::new(&server.base).json("/api/openapi.json").await;
    let admin = server.login("admin").await;
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let anon = Client::new(&server.base);
    let qinan = server.institution_id("秦安县计量检定所").await;
    let tianshui = server.institution_id("天水市计量测试所").await;
    let colleague = server.user_id("trainee").await;
    let device: Value = tech
        .post(
            "/api/v1/devices",
            &json!({"lab_id": qinan, "name": "万用表", "kind": "digital multimeter",
                    "quantity": "voltage", "unit": "V"}),
        )
        .await
        .json()
        .await
        .expect("device");
    let device_id = device["device"]["id"]
        .as_str()
        .or(device["id"].as_str())
        .expect("device id")
        .to_owned();
    let patched: Value = tech
        .post(
            "/api/v1/devices",
            &json!({"lab_id": qinan, "name": "压力表", "kind": "gauge",
                    "quantity": "pressure", "unit": "kPa"}),
        )
        .await
        .json()
        .await
        .expect("device");
    let patched_id = patched["device"]["id"]
        .as_str()
        .or(patched["id"].as_str())
        .expect("device id")
        .to_owned();
    let session: Value = expert
        .post(
            "/api/v1/sessions",
            &json!({"title": "限值", "scheduled_start": time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339).expect("time"),
                    "duration_minutes": 60, "lab_ids": [qinan]}),
        )
        .await
        .json()
        .await
        .expect("session");
    let session_id = session["id"].as_str().expect("session id").to_owned();
    let start = || {
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    // Comparison rounds: one open with the technician's lab invited, one
    // closed (exclusions are decided then).
    let deadline = (time::OffsetDateTime::now_utc() + time::Duration::days(7))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let round_body = move || {
        json!({"title": "限值比对", "quantity": "直流电压", "unit": "V",
               "deadline": deadline.clone(), "method": "weighted-mean"})
    };
    let mut rounds = Vec::new();
    for _ in 0..2 {
        let round: Value = expert
            .post("/api/v1/rounds", &round_body())
            .await
            .json()
            .await
            .expect("round");
        let id = round["id"].as_str().expect("round id").to_owned();
        let res = expert
            .post(
                &format!("/api/v1/rounds/{id}/labs"),
                &json!({"lab_ids": [qinan]}),
            )
            .await;
        assert_eq!(res.status(), 200);
        rounds.push(id);
    }
    let (open_round, closed_round) = (rounds[0].clone(), rounds[1].clone());
    let res = expert
        .post(&format!("/api/v1/rounds/{closed_round}/close"), &json!({}))
        .await;
    assert_eq!(res.status(), 200);

    let ops: Vec<Op> = vec![
        Op {
            method: Method::POST,
            template: "/api/v1/auth/login",
            path: "/api/v1/auth/login".into(),
            client: &anon,
            body: Box::new(|| json!({"login": filler("login", 8), "password": "x"})),
        },
        Op {
            method: Method::POST,
            template: "/api/v1/users",
            path: "/api/v1/users".into(),
            client: &admin,
            body: Box::new(|| {
                json!({"username": filler("username", 8), "display_name": "测试",
                       "institution_id": qinan, "roles": ["technician"],
                       "password": "Aa1!zzzzzzzz"})
            }),
        },
        Op {
            method: Method::PATCH,
            template: "/api/v1/users/{id}",
            path: format!("/api/v1/users/{colleague}"),
            client: &admin,
            body: Box::new(|| json!({"roles": ["technician"]})),
        },
        Op {
            method: Method::POST,
            template: "/api/v1/invitations",
            path: "/api/v1/invitations".into(),
            client: &admin,
            body: Box::new(|| {
                json!({"display_name": "受邀者", "email": filler("email", 16),
                       "institution_id": qinan, "roles": ["trainee"]})
            }),
        },
        Op {
            method: Method::POST,
            template: "/api/v1/sessions",
            path: "/api/v1/sessions".into(),
            client: &expert,
            body: Box::new(|| {
                json!({"title": "会话", "scheduled_start": start(), "duration_minutes": 60,
                       "lab_ids": [qinan], "participant_ids": [colleague]})
            }),
        },
        Op {
            method: Method::POST,
            template: "/api/v1/help-requests",
            path: "/api/v1/help-requests".into(),
            client: &tech,
            body: Box::new(|| json!({"topic": "求助", "instrument": "压力表", "urgency": "low"})),
        },
        Op {
            method: Method::POST,
            template: "/api/v1/institutions",
            path: "/api/v1/institutions".into(),
            client: &admin,
            body: Box::new(|| {
                json!({"parent_id": tianshui, "level": "county",
                       "name_zh": filler("name_zh", 8), "region_code": "620522"})
            }),
        },
        Op {
            method: Method::PATCH,
            template: "/api/v1/institutions/{id}",
            path: format!("/api/v1/institutions/{qinan}"),
            client: &admin,
            body: Box::new(|| json!({"contact": "0938-1234567"})),
        },
        Op {
            method: Method::POST,
            template: "/api/v1/devices",
            path: "/api/v1/devices".into(),
            client: &tech,
            body: Box::new(|| {
                json!({"lab_id": qinan, "name": "表", "kind": "仪表", "quantity": "voltage",
                       "unit": "V"})
            }),
        },
        Op {
            method: Method::PATCH,
            template: "/api/v1/devices/{id}",
            path: format!("/api/v1/devices/{patched_id}"),
            client: &tech,
            body: Box::new(|| json!({"name": "表"})),
        },
        Op {
            method: Method::POST,
            template: "/api/v1/devices/{id}/readings",
            path: format!("/api/v1/devices/{device_id}/readings"),
            client: &tech,
            body: Box::new(
                || json!({"key": filler("key", 12), "readings": [{"value": 1.5, "unit": "V"}]}),
            ),
        },
        Op {
            method: Method::POST,
            template: "/api/v1/rounds",
            path: "/api/v1/rounds".into(),
            client: &expert,
            body: Box::new(round_body.clone()),
        },
        Op {
            method: Method::POST,
            template: "/api/v1/rounds/{id}/labs",
            path: format!("/api/v1/rounds/{open_round}/labs"),
            client: &expert,
            body: Box::new(|| json!({"lab_ids": [qinan]})),
        },
        Op {
            method: Method::PUT,
            template: "/api/v1/rounds/{id}/results/{lab_id}",
            path: format!("/api/v1/rounds/{open_round}/results/{qinan}"),
            client: &tech,
            body: Box::new(|| json!({"value": 10.0, "expanded_uncertainty": 0.001, "k": 2.0})),
        },
        Op {
            method: Method::POST,
            template: "/api/v1/rounds/{id}/results/{lab_id}/attachments",
            path: format!("/api/v1/rounds/{open_round}/results/{qinan}/attachments"),
            client: &tech,
            body: Box::new(
                || json!({"name": "记录.txt", "content_type": "text/plain", "data_base64": "aGVsbG8="}),
            ),
        },
        Op {
            method: Method::PUT,
            template: "/api/v1/rounds/{id}/labs/{lab_id}/exclusion",
            path: format!("/api/v1/rounds/{closed_round}/labs/{qinan}/exclusion"),
            client: &expert,
            body: Box::new(|| json!({"reason": "漂移"})),
        },
    ];

    let mut failures = Vec::new();
    let mut probed = 0;
    for op in &ops {
        let operation = &doc["paths"][op.template][op.method.as_str().to_lowercase()];
        let schema = resolve(
            &doc,
            &operation["requestBody"]["content"]["application/json"]["schema"],
        );
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(
            !props.is_empty(),
            "{} {} has no body properties",
            op.method,
            op.template
        );
        for (name, prop) in &props {
            let base = (op.body)();
            let example_item = base[name.as_str()]
                .as_array()
                .and_then(|a| a.first())
                .cloned();
            for probe in probes(name, prop, example_item.as_ref()) {
                probed += 1;
                for (value, accept) in [(&probe.ok, true), (&probe.past, false)] {
                    let mut body: Map<String, Value> =
                        (op.body)().as_object().cloned().expect("object body");
                    body.insert(name.clone(), value.clone());
                    let body = Value::Object(body);
                    if let Some(f) = expect(
                        op.client,
                        &op.method,
                        &op.path,
                        Some(&body),
                        accept,
                        &probe.what,
                    )
                    .await
                    {
                        failures.push(f);
                    }
                }
            }
        }
    }

    // Query parameters of the list routes.
    let queries: Vec<(&str, String, &Client)> = vec![
        ("/api/v1/users", "/api/v1/users".into(), &admin),
        ("/api/v1/audit", "/api/v1/audit".into(), &admin),
        ("/api/v1/sessions", "/api/v1/sessions".into(), &expert),
        (
            "/api/v1/sessions/{id}/events",
            format!("/api/v1/sessions/{session_id}/events"),
            &expert,
        ),
        (
            "/api/v1/help-requests",
            "/api/v1/help-requests".into(),
            &expert,
        ),
        ("/api/v1/devices", "/api/v1/devices".into(), &tech),
        (
            "/api/v1/devices/{id}/readings",
            format!("/api/v1/devices/{device_id}/readings"),
            &tech,
        ),
    ];
    for (template, path, client) in &queries {
        let params = doc["paths"][*template]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut found = 0;
        for p in params.iter().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().expect("name");
            for probe in probes(name, &p["schema"], None) {
                found += 1;
                probed += 1;
                for (value, accept) in [(&probe.ok, true), (&probe.past, false)] {
                    let v = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let url = format!("{path}?{name}={}", urlencode(&v));
                    if let Some(f) =
                        expect(client, &Method::GET, &url, None, accept, &probe.what).await
                    {
                        failures.push(f);
                    }
                }
            }
        }
        assert!(found > 0, "GET {template} states no query limits");
    }
    eprintln!(
        "{probed} stated limits probed, {} disagreements",
        failures.len()
    );
    assert!(probed >= 40, "only {probed} limits probed");
    assert!(
        failures.is_empty(),
        "{} of {probed} stated limits disagree with the server:\n{}",
        failures.len(),
        failures.join("\n")
    );
    server.stop().await;
});

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// JSON routes take small bodies, the reading uploads large ones; past the
/// limit the answer is 413 with the error document, whether the body says
/// its length or streams without one.
#[tokio::test]
async fn body_limits_are_per_route() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let json_limit = server.state.config.max_json_body_bytes;
    let upload_limit = server.state.config.max_body_bytes;
    assert!(json_limit < upload_limit);
    let tech = server.login("tech").await;

    // A login form padded past the JSON limit: 413 before any parsing.
    let padded = |n: usize| {
        let mut s = String::from(r#"{"login":"tech","password":"x","pad":""#);
        s.push_str(&"a".repeat(n.saturating_sub(s.len() + 2)));
        s.push_str(r#""}"#);
        s
    };
    let http = reqwest::Client::new();
    let res = http
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(padded(json_limit + 1))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 413);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["code"], "payload_too_large");
    assert!(v["message"].is_string());
    // Without a length: read up to the limit, then refused.
    let (status, v) =
        chunked_post(server.addr, "/api/v1/auth/login", &padded(json_limit + 1)).await;
    assert_eq!(status, 413, "{v}");
    assert_eq!(v["code"], "payload_too_large");
    assert!(v["message"].is_string());
    // At the limit the body is read (and this one is a failed login).
    let res = http
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(padded(json_limit))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 401);

    // A manual reading entry larger than the JSON limit is fine on its
    // upload route, and refused past the upload limit.
    let qinan = server.institution_id("秦安县计量检定所").await;
    let device: Value = tech
        .post(
            "/api/v1/devices",
            &json!({"lab_id": qinan, "name": "表", "kind": "仪表", "quantity": "voltage", "unit": "V"}),
        )
        .await
        .json()
        .await
        .expect("device");
    let id = device["device"]["id"]
        .as_str()
        .or(device["id"].as_str())
        .expect("id")
        .to_owned();
    let now = time::OffsetDateTime::now_utc();
    let readings: Vec<Value> = (0..1000)
        .map(|i| {
            let t = (now - time::Duration::milliseconds(i64::from(i)))
                .format(&time::format_description::well_known::Rfc3339)
                .expect("time");
            json!({"value": f64::from(i) * 1.000_000_1, "unit": "V", "t": t})
        })
        .collect();
    let big = json!({"key": "big-entry", "readings": readings});
    assert!(
        big.to_string().len() > json_limit,
        "the entry must exceed the JSON limit"
    );
    let res = tech
        .post(&format!("/api/v1/devices/{id}/readings"), &big)
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let huge = format!(
        r#"{{"key":"huge","readings":[],"pad":"{}"}}"#,
        "a".repeat(upload_limit)
    );
    let res = http
        .post(server.url(&format!("/api/v1/devices/{id}/readings")))
        .header("content-type", "application/json")
        .header("cookie", tech.cookie.clone().expect("cookie"))
        .header("x-csrf-token", tech.csrf.clone().expect("csrf"))
        .body(huge)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 413);
    server.stop().await;
}

/// POST `body` with `Transfer-Encoding: chunked` (no length announced);
/// answers the status and the JSON body.
async fn chunked_post(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.as_bytes().chunks(4096) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(&req).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}
