//! The few REST calls the fault scenarios make: log in, create and start a
//! session, register and attach a device, read a session's log and a
//! device's readings back.

use std::time::Duration;

use serde_json::{Value, json};

use crate::R;

/// One person's login: the cookie for sockets and the CSRF token for writes.
#[derive(Clone, Debug)]
pub struct Login {
    pub cookie: String,
    pub csrf: String,
    pub user_id: String,
}

#[derive(Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    pub async fn login(&self, user: &str) -> R<Login> {
        let res = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"login": user, "password": "Jiliang-demo-2026"}))
            .send()
            .await
            .map_err(|e| format!("login {user}: {e}"))?;
        if res.status() != 200 {
            return Err(format!("login {user}: HTTP {}", res.status()));
        }
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .ok_or("login: no cookie")?
            .to_owned();
        let body: Value = res.json().await.map_err(|e| format!("login body: {e}"))?;
        Ok(Login {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap_or_default().to_owned(),
            user_id: body["user"]["id"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// `(status, body)`; the body is `null` when it is not JSON.
    pub async fn get(&self, who: &Login, path: &str) -> R<(u16, Value)> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &who.cookie)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    pub async fn post(&self, who: &Login, path: &str, body: &Value) -> R<(u16, Value)> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &who.cookie)
            .header("x-csrf-token", &who.csrf)
            .json(body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    async fn ok(&self, who: &Login, path: &str) -> R<Value> {
        match self.get(who, path).await? {
            (200, v) => Ok(v),
            (s, v) => Err(format!("GET {path}: HTTP {s} {v}")),
        }
    }

    /// The demo county lab every scenario's sessions and devices belong to.
    pub async fn qinan(&self, who: &Login) -> R<String> {
        let labs = self.ok(who, "/api/v1/institutions").await?;
        labs.as_array()
            .and_then(|l| l.iter().find(|i| i["name_zh"] == "秦安县计量检定所"))
            .and_then(|i| i["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| "no demo lab 秦安 (seed-demo not run?)".into())
    }

    /// A session hosted by `host` with 秦安, started (live) so devices can
    /// be attached.
    pub async fn live_session(&self, host: &Login, title: &str) -> R<String> {
        let lab = self.qinan(host).await?;
        let start = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let (s, v) = self
            .post(
                host,
                "/api/v1/sessions",
                &json!({"title": title, "scheduled_start": start,
                        "duration_minutes": 120, "lab_ids": [lab]}),
            )
            .await?;
        if s != 201 {
            return Err(format!("create session: HTTP {s} {v}"));
        }
        let id = v["id"].as_str().ok_or("session id")?.to_owned();
        let (s, v) = self
            .post(host, &format!("/api/v1/sessions/{id}/start"), &json!({}))
            .await?;
        if s != 200 {
            return Err(format!("start session: HTTP {s} {v}"));
        }
        Ok(id)
    }

    /// A voltage device at 秦安 registered by `tech`: (id, agent token).
    pub async fn device(&self, tech: &Login, name: &str) -> R<(String, String)> {
        let lab = self.qinan(tech).await?;
        let (s, v) = self
            .post(
                tech,
                "/api/v1/devices",
                &json!({"lab_id": lab, "name": name, "kind": "digital multimeter",
                        "quantity": "voltage", "unit": "V", "resolution": 0.000001}),
            )
            .await?;
        if s != 201 {
            return Err(format!("register device: HTTP {s} {v}"));
        }
        Ok((
            v["id"].as_str().ok_or("device id")?.to_owned(),
            v["token"].as_str().ok_or("device token")?.to_owned(),
        ))
    }

    pub async fn attach(&self, host: &Login, session: &str, device: &str) -> R<()> {
        match self
            .post(
                host,
                &format!("/api/v1/sessions/{session}/devices"),
                &json!({"device_id": device}),
            )
            .await?
        {
            (200, _) => Ok(()),
            (s, v) => Err(format!("attach device: HTTP {s} {v}")),
        }
    }

    /// The whole stored log of a session, in order.
    pub async fn events(&self, who: &Login, session: &str) -> R<Vec<Value>> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .ok(
                    who,
                    &format!("/api/v1/sessions/{session}/events?after={after}&limit=1000"),
                )
                .await?;
            out.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_after"].as_u64() {
                Some(n) => after = n,
                None => return Ok(out),
            }
        }
    }

    /// Every stored reading of a device, in `seq` order.
    pub async fn readings(&self, who: &Login, device: &str) -> R<Vec<Value>> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .ok(
                    who,
                    &format!("/api/v1/devices/{device}/readings?after={after}&limit=1000"),
                )
                .await?;
            out.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_after"].as_u64() {
                Some(n) => after = n,
                None => return Ok(out),
            }
        }
    }

    /// Whether `user` shows online in the session's participants.
    pub async fn online(&self, who: &Login, session: &str, user: &str) -> R<bool> {
        let v = self.ok(who, &format!("/api/v1/sessions/{session}")).await?;
        v["participants"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["user_id"] == user))
            .and_then(|p| p["online"].as_bool())
            .ok_or_else(|| format!("{user} is not a participant of {session}"))
    }

    /// A gauge or counter from `/metrics` (no labels).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// `GET /healthz` answered 200.
    pub async fn healthy(&self) -> bool {
        matches!(
            self.http.get(format!("{}/healthz", self.base)).timeout(Duration::from_secs(2)).send().await,
            Ok(r) if r.status() == 200
        )
    }
}
