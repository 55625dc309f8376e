//! Test support: a real server on a random port with its own database.
//!
//! Every test gets a fresh SQLite file in a temp dir, or — when
//! `DATABASE_URL` names a PostgreSQL server — its own schema in that
//! database, dropped afterwards, so parallel tests and parallel CI runs never
//! see each other's rows.

#![allow(dead_code)]

pub mod cli;
pub mod procs;

use std::net::SocketAddr;
use std::time::Duration;

use jiliang_server::{AppState, Config, Store};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database for one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>, // (admin url, schema)
}

/// `DATABASE_URL` if it names PostgreSQL. CI sets `JILIANG_REQUIRE_POSTGRES`
/// so a missing URL fails loudly there instead of skipping.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres:") || u.starts_with("postgresql:"));
    if url.is_none() && std::env::var_os("JILIANG_REQUIRE_POSTGRES").is_some() {
        panic!("JILIANG_REQUIRE_POSTGRES is set but DATABASE_URL does not name PostgreSQL");
    }
    url
}

impl TestDb {
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("jiliang.db").display());
        Self {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// `None` when no PostgreSQL is configured (the test is then skipped,
    /// and says so on stderr).
    pub async fn postgres() -> Option<Self> {
        let Some(admin) = postgres_url() else {
            eprintln!("skipped: DATABASE_URL does not name a PostgreSQL server");
            return None;
        };
        let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("connect to DATABASE_URL");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .expect("create test schema");
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{sep}options[search_path]={schema}");
        Some(Self {
            url,
            backend: Backend::Postgres,
            _dir: None,
            pg: Some((admin, schema)),
        })
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.url).await.expect("open store")
    }

    /// Drop the PostgreSQL schema (SQLite's temp dir goes with `self`).
    pub async fn cleanup(self) {
        if let Some((admin, schema)) = &self.pg
            && let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(admin).await
        {
            let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut conn)
                .await;
        }
    }
}

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub shutdown: CancellationToken,
    pub state: AppState,
    pub db: TestDb,
    handle: JoinHandle<()>,
    _key_dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        Some(Self::start_on(db).await)
    }

    pub async fn start_on(db: TestDb) -> Self {
        Self::start_configured(db, |_| {}).await
    }

    /// Start with the test configuration changed by `tweak`.
    pub async fn start_configured(db: TestDb, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_listening(db, tweak, jiliang_server::listen::Listen::default()).await
    }

    /// Start with `listen`'s TLS and connection limits, as `jiliang serve`
    /// does with its flags.
    pub async fn start_listening(
        db: TestDb,
        tweak: impl FnOnce(&mut Config),
        listen: jiliang_server::listen::Listen,
    ) -> Self {
        let scheme = listen.scheme();
        let store = db.store().await;
        let key_dir = tempfile::tempdir().expect("key dir");
        let mut config = Config {
            static_dir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/dist"),
            ledger_key: Some(key_dir.path().join("ledger-key.hex")),
            ledger_interval_ms: 200,
            ..Config::for_database(db.url.clone())
        };
        tweak(&mut config);
        let shutdown = CancellationToken::new();
        let state = AppState::build(store, config, shutdown.clone())
            .await
            .expect("state");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let serve_state = state.clone();
        let handle = tokio::spawn(async move {
            jiliang_server::serve_with(serve_state, listener, listen)
                .await
                .expect("server ran");
        });
        Self {
            addr,
            base: format!("{scheme}://{addr}"),
            shutdown,
            state,
            db,
            handle,
            _key_dir: key_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Shut down gracefully and wait (bounded) for the server to finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("server stops within 10 s")
            .expect("server task did not panic");
        self.db.cleanup().await;
    }
}

/// Define one test per backend from one body: `backend_tests!(name, |b| async move {..})`
/// expands to `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($name:ident, |$backend:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $backend = $crate::common::Backend::Sqlite;
                $body.await
            }

            #[tokio::test]
            async fn postgres() {
                if $crate::common::postgres_url().is_none() {
                    eprintln!("skipped: DATABASE_URL does not name a PostgreSQL server");
                    return;
                }
                let $backend = $crate::common::Backend::Postgres;
                $body.await
            }
        }
    };
}

/// An HTTP client that keeps a login session the way a browser does: the
/// session cookie, and the CSRF token to echo on writes.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

pub const DEMO_PASSWORD: &str = jiliang_server::demo::DEMO_PASSWORD;

impl Client {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            cookie: None,
            csrf: None,
        }
    }

    /// Log in; panics unless it succeeds.
    pub async fn login(base: &str, login: &str, password: &str) -> Self {
        let mut c = Self::new(base);
        let res = c
            .post(
                "/api/v1/auth/login",
                &serde_json::json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(
            res.status(),
            200,
            "login as {login} failed: {:?}",
            res.text().await
        );
        c.adopt(res).await;
        c
    }

    /// Take the session cookie and CSRF token from a login-like answer.
    pub async fn adopt(&mut self, res: reqwest::Response) -> serde_json::Value {
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("jiliang_session="))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let body: serde_json::Value = res.json().await.expect("json body");
        self.cookie = cookie;
        self.csrf = body["csrf_token"].as_str().map(str::to_owned);
        body
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        if let Some(t) = &self.csrf {
            r = r.header("x-csrf-token", t);
        }
        r
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.req(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.req(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.req(reqwest::Method::PATCH, path)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let r = self.req(method, path);
        let r = match body {
            Some(b) => r.json(b),
            None => r,
        };
        r.send().await.expect("request")
    }

    pub async fn json(&self, path: &str) -> serde_json::Value {
        let res = self.get(path).await;
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.expect("json")
    }
}

impl TestServer {
    /// Start with the demo province seeded.
    pub async fn start_seeded(backend: Backend) -> Option<Self> {
        let server = Self::start(backend).await?;
        jiliang_server::demo::seed(&server.state.store)
            .await
            .expect("seed demo");
        Some(server)
    }

    pub async fn login(&self, username: &str) -> Client {
        Client::login(&self.base, username, DEMO_PASSWORD).await
    }

    /// Id of a demo institution by its Chinese name.
    pub async fn institution_id(&self, name_zh: &str) -> uuid::Uuid {
        self.state
            .store
            .list_institutions()
            .await
            .expect("list")
            .into_iter()
            .find(|i| i.institution.name_zh == name_zh)
            .map(|i| i.institution.id)
            .unwrap_or_else(|| panic!("no institution {name_zh}"))
    }

    pub async fn user_id(&self, username: &str) -> uuid::Uuid {
        self.state
            .store
            .find_user_by_login(username)
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("no user {username}"))
            .user
            .id
    }
}
