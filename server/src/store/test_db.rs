//! Stores for the store's own unit tests: a migrated SQLite file in a
//! temporary directory, and — when `DATABASE_URL` names PostgreSQL — a
//! migrated schema of its own in that database, dropped afterwards. Each
//! test body runs against both, as the integration tests do.

use jiliang_protocol::accounts::Role;
use jiliang_protocol::devices::DeviceReading;
use jiliang_protocol::institutions::InstitutionLevel;
use jiliang_protocol::sessions::{SessionKind, SessionState};
use sqlx::Connection;
use uuid::Uuid;

use super::Store;
use super::devices::{AgentBatch, NewDeviceRow};
use super::institutions::NewInstitution;
use super::rooms::NewSession;
use super::users::NewUser;

/// One backend's store, and what to clean up after it.
pub struct TestStore {
    pub store: Store,
    pub name: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>, // (admin url, schema)
}

impl TestStore {
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some((admin, schema)) = &self.pg
            && let Ok(mut conn) = sqlx::PgConnection::connect(admin).await
        {
            let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut conn)
                .await;
        }
    }
}

/// A migrated SQLite store in a temporary directory, for what only SQLite
/// has.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("unit.db").display());
    TestStore {
        store: Store::open(&url).await.expect("sqlite store"),
        name: "sqlite",
        _dir: Some(dir),
        pg: None,
    }
}

/// SQLite always; PostgreSQL when `DATABASE_URL` names it (CI sets
/// `JILIANG_REQUIRE_POSTGRES` so that cannot be skipped silently).
pub async fn stores() -> Vec<TestStore> {
    let mut out = vec![sqlite().await];
    let admin = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres:") || u.starts_with("postgresql:"));
    match admin {
        Some(admin) => {
            let schema = format!("u_{}", Uuid::now_v7().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect to DATABASE_URL");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .await
                .expect("create schema");
            let sep = if admin.contains('?') { '&' } else { '?' };
            let url = format!("{admin}{sep}options[search_path]={schema}");
            out.push(TestStore {
                store: Store::open(&url).await.expect("postgres store"),
                name: "postgres",
                _dir: None,
                pg: Some((admin, schema)),
            });
        }
        None if std::env::var_os("JILIANG_REQUIRE_POSTGRES").is_some() => {
            panic!("JILIANG_REQUIRE_POSTGRES is set but DATABASE_URL does not name PostgreSQL");
        }
        None => eprintln!("store unit tests: PostgreSQL skipped (no DATABASE_URL)"),
    }
    out
}

/// A lab, a person in it and a live session they host.
pub struct Seeded {
    pub lab: Uuid,
    pub user: Uuid,
    pub session: Uuid,
}

pub async fn seed(store: &Store) -> Seeded {
    let lab = store
        .insert_institution(&NewInstitution {
            parent_id: None,
            level: InstitutionLevel::County,
            name_zh: "静宁县计量所".into(),
            name_en: None,
            region_code: "620826".into(),
            contact: String::new(),
        })
        .await
        .expect("institution");
    let user = store
        .insert_user(&NewUser {
            username: format!("u{}", Uuid::now_v7().simple()),
            display_name: "王工".into(),
            email: None,
            phone: None,
            institution_id: lab.institution.id,
            roles: vec![Role::Technician],
            password_hash: None,
        })
        .await
        .expect("user");
    let session = live_session(store, user.id).await;
    Seeded {
        lab: lab.institution.id,
        user: user.id,
        session,
    }
}

/// A live session hosted by `host` at their institution.
pub async fn live_session(store: &Store, host: Uuid) -> Uuid {
    let host_institution_id = store.get_user(host).await.expect("host").institution_id;
    store
        .insert_live_session(&NewSession {
            kind: SessionKind::Scheduled,
            title: "天平校准".into(),
            description: String::new(),
            state: SessionState::Live,
            scheduled_start: crate::clock::now(),
            duration_minutes: 60,
            host_id: host,
            host_institution_id,
            help_request_id: None,
            lab_ids: Vec::new(),
            participant_ids: Vec::new(),
        })
        .await
        .expect("live session")
}

/// A voltmeter of `lab` whose agent token hashes to `hash`.
pub async fn device(store: &Store, lab: Uuid, user: Uuid, hash: [u8; 32]) -> Uuid {
    store
        .insert_device(&NewDeviceRow {
            lab_id: lab,
            name: format!("DMM {}", hash[0]),
            kind: "digital multimeter".into(),
            quantity: "voltage".into(),
            unit: "V".into(),
            resolution: Some(1e-6),
            reference: None,
            token_hash: hash,
            created_by: user,
        })
        .await
        .expect("device")
        .device
        .id
}

/// An agent's batch for `device`: one reading per `seq`, its value the seq.
pub fn batch(device: Uuid, hash: [u8; 32], seqs: &[u64]) -> AgentBatch {
    AgentBatch {
        device_id: device,
        unit: "V".into(),
        token_hash: hash,
        readings: seqs
            .iter()
            .map(|s| DeviceReading {
                seq: *s,
                t: crate::clock::now(),
                value: *s as f64,
                unit: "V".into(),
                u_t: 0.001,
            })
            .collect(),
    }
}
