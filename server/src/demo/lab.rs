//! The demo lab at work: 秦安县计量检定所's instruments and what the
//! province is doing with them, so that a newcomer who logs in as the
//! expert sees the product at work instead of empty lists.
//!
//! - four devices: a digital multimeter and a pressure transmitter (the
//!   units under test) and their reference standards, with certificate data;
//! - an agent configuration file per device in the lab directory (its
//!   token, its queue, its instrument), which `scripts/run` starts
//!   `jiliang-agent` with, beside `jiliang-sim` simulators;
//! - an ENDED session in which the pressure pair was compared and the
//!   comparison finished (readings stored through the same ingest as an
//!   agent's, the set-up, points and finish through `crate::comparison`, so
//!   the session holds the finished `raw_record` with its ledger leaf);
//! - a LIVE session with all four devices attached: the agents' readings
//!   stream into it;
//! - an open help request from another county lab.
//!
//! Idempotent: each thing is looked up by its natural key (device by lab and
//! name, session by host and title, help request by lab and topic) and
//! created only when missing; a token is replaced only when the file's
//! token no longer opens its device.

use std::path::{Path, PathBuf};

use jiliang_metrology::conformity::Mpe;
use jiliang_metrology::rng::Xoshiro256pp;
use jiliang_protocol::comparison::ComparisonSetup;
use jiliang_protocol::devices::{DeviceReading, ReferenceCert};
use jiliang_protocol::rooms::{Author, EventBody};
use jiliang_protocol::sessions::{SessionKind, SessionState, Urgency};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::SeedError;
use crate::auth::token::{hash_token, random_token};
use crate::clock::now;
use crate::comparison;
use crate::store::Store;
use crate::store::devices::{
    Attach, DeviceQuery, DeviceScope, IngestOutcome, NewBatch, NewDeviceRow, Source, StoredDevice,
};
use crate::store::rooms::{EventOutcome, NewEvent, NewSession, SessionQuery};

/// The lab whose instruments are simulated.
pub const LAB: &str = "秦安县计量检定所";
/// The ended session (the pressure pair, compared before).
pub const ENDED_TITLE: &str = "压力变送器在线比对（已完成）";
/// The live session (all four devices attached).
pub const LIVE_TITLE: &str = "数字多用表与压力变送器在线比对（演示）";
/// The open help request's topic.
pub const HELP_TOPIC: &str = "压力变送器零点漂移，请求远程指导";

/// How an agent reaches a simulated instrument (the address `scripts/run`
/// starts `jiliang-sim` on).
enum Driver {
    Scpi(&'static str),
    Modbus(&'static str),
}

struct DemoDevice {
    /// File stem of its agent configuration and queue.
    key: &'static str,
    name: &'static str,
    kind: &'static str,
    quantity: &'static str,
    unit: &'static str,
    resolution: f64,
    reference: Option<(&'static str, &'static str, f64)>,
    driver: Driver,
}

/// (certificate number, issuer, expanded uncertainty U with k = 2)
const DEVICES: &[DemoDevice] = &[
    DemoDevice {
        key: "dmm",
        name: "数字多用表 DMM-01",
        kind: "数字多用表",
        quantity: "voltage",
        unit: "V",
        resolution: 1e-5,
        reference: None,
        driver: Driver::Scpi("127.0.0.1:5025"),
    },
    DemoDevice {
        key: "dmm-ref",
        name: "标准数字多用表 REF-8508",
        kind: "标准数字多用表（参考标准）",
        quantity: "voltage",
        unit: "V",
        resolution: 1e-7,
        reference: Some(("DLdy2026-00417", "中国计量科学研究院", 2.0e-5)),
        driver: Driver::Scpi("127.0.0.1:5026"),
    },
    DemoDevice {
        key: "pt",
        name: "压力变送器 PT-01",
        kind: "压力变送器",
        quantity: "pressure",
        unit: "kPa",
        resolution: 0.01,
        reference: None,
        driver: Driver::Modbus("127.0.0.1:5020"),
    },
    DemoDevice {
        key: "pt-ref",
        name: "数字压力校验仪 REF-CPC",
        kind: "数字压力校验仪（参考标准）",
        quantity: "pressure",
        unit: "kPa",
        resolution: 0.001,
        reference: Some(("YLjz2026-0088", "甘肃省计量研究院", 0.03)),
        driver: Driver::Modbus("127.0.0.1:5021"),
    },
];

/// What the lab seeding did.
#[derive(Debug, Default)]
pub struct LabReport {
    pub devices_created: usize,
    pub tokens_written: usize,
    pub sessions_created: usize,
    pub help_created: bool,
    /// Comparison rounds created (`crate::rounds::demo`).
    pub rounds_created: usize,
    pub agent_files: Vec<PathBuf>,
}

impl std::fmt::Display for LabReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "demo lab ({LAB}): {} devices created, {} agent tokens written, {} sessions created, help request {}",
            self.devices_created,
            self.tokens_written,
            self.sessions_created,
            if self.help_created {
                "created"
            } else {
                "present"
            }
        )?;
        if self.rounds_created > 0 {
            writeln!(f, "  comparison rounds created: {}", self.rounds_created)?;
        }
        for p in &self.agent_files {
            writeln!(f, "  agent configuration: {}", p.display())?;
        }
        Ok(())
    }
}

async fn user(store: &Store, login: &str) -> Result<crate::store::users::StoredUser, SeedError> {
    store.find_user_by_login(login).await?.ok_or_else(|| {
        SeedError::Other(format!(
            "demo account {login} missing: seed the demo province first"
        ))
    })
}

/// Seed the demo lab (see the module docs); agent files go to `dir`.
pub async fn seed(store: &Store, dir: &Path) -> Result<LabReport, SeedError> {
    let mut report = LabReport::default();
    let expert = user(store, "expert").await?.user;
    let tech = user(store, "tech").await?.user;
    let lab = tech.institution_id;

    // 1. Devices, each with a token its agent file holds.
    let existing = store
        .list_devices(&DeviceQuery {
            scope: DeviceScope::Lab(lab),
            lab_id: None,
            limit: 500,
        })
        .await?;
    let mut devices: Vec<(StoredDevice, [u8; 32])> = Vec::new();
    crate::ledger::key::create_private_dir(dir)
        .map_err(|e| SeedError::Other(format!("cannot create {}: {e}", dir.display())))?;
    for d in DEVICES {
        let file = dir.join(format!("{}.toml", d.key));
        let held = read_token(&file);
        let found = existing.iter().find(|s| s.device.name == d.name).cloned();
        let (device, hash) = match found {
            Some(s) => {
                let valid = match &held {
                    Some(t) => {
                        store
                            .device_token_valid(s.device.id, &hash_token(t))
                            .await?
                    }
                    None => false,
                };
                if valid {
                    let hash = held.as_deref().map(hash_token).unwrap_or_default();
                    (s, hash)
                } else {
                    let token = random_token();
                    let hash = hash_token(&token);
                    store.set_device_token(s.device.id, &hash).await?;
                    write_agent_file(&file, dir, d, &token)?;
                    report.tokens_written += 1;
                    (s, hash)
                }
            }
            None => {
                let token = random_token();
                let hash = hash_token(&token);
                let s = store
                    .insert_device(&NewDeviceRow {
                        lab_id: lab,
                        name: d.name.to_owned(),
                        kind: d.kind.to_owned(),
                        quantity: d.quantity.to_owned(),
                        unit: d.unit.to_owned(),
                        resolution: Some(d.resolution),
                        reference: d.reference.map(|(no, issuer, u)| ReferenceCert {
                            certificate_no: no.to_owned(),
                            issuer: Some(issuer.to_owned()),
                            expanded_uncertainty: u,
                            k: 2.0,
                            unit: Some(d.unit.to_owned()),
                            valid_until: time::Date::from_calendar_date(
                                2027,
                                time::Month::June,
                                30,
                            )
                            .ok(),
                        }),
                        token_hash: hash,
                        created_by: tech.id,
                    })
                    .await?;
                write_agent_file(&file, dir, d, &token)?;
                report.devices_created += 1;
                report.tokens_written += 1;
                (s, hash)
            }
        };
        report.agent_files.push(file);
        devices.push((device, hash));
    }

    // 2. Sessions, looked up by title among the expert's.
    let sessions = store
        .list_live_sessions(&SessionQuery {
            user_id: expert.id,
            institution_id: expert.institution_id,
            oversight_path: None,
            state: None,
            from: None,
            to: None,
            limit: 500,
        })
        .await?;
    let host = Author {
        id: expert.id,
        name: expert.display_name.clone(),
    };
    let new_session = |title: &str, description: &str, start: OffsetDateTime| NewSession {
        kind: SessionKind::Scheduled,
        title: title.to_owned(),
        description: description.to_owned(),
        state: SessionState::Scheduled,
        scheduled_start: start,
        duration_minutes: 60,
        host_id: expert.id,
        host_institution_id: expert.institution_id,
        help_request_id: None,
        lab_ids: vec![lab],
        participant_ids: vec![tech.id],
    };
    if !sessions.iter().any(|s| s.title == ENDED_TITLE) {
        let id = store
            .insert_live_session(&new_session(
                ENDED_TITLE,
                "压力变送器 PT-01 对数字压力校验仪 REF-CPC，100/200/300 kPa 三个检定点，每点 10 个读数。",
                now() - Duration::hours(2),
            ))
            .await?;
        change_state(
            store,
            id,
            &host,
            SessionState::Scheduled,
            SessionState::Live,
        )
        .await?;
        let pair: Vec<&(StoredDevice, [u8; 32])> = devices
            .iter()
            .filter(|(d, _)| d.device.unit == "kPa")
            .collect();
        for (device, _) in &pair {
            if store.attach_device(device.device.id, id, expert.id).await? != Attach::Attached {
                return Err(SeedError::Other(format!(
                    "demo device {} is attached to another session",
                    device.device.name
                )));
            }
        }
        past_comparison(store, id, &host, &pair).await?;
        change_state(store, id, &host, SessionState::Live, SessionState::Ended).await?;
        report.sessions_created += 1;
    }
    if !sessions.iter().any(|s| s.title == LIVE_TITLE) {
        let id = store
            .insert_live_session(&new_session(
                LIVE_TITLE,
                "秦安县计量检定所的数字多用表和压力变送器与各自的参考标准同时读数，专家远程查看误差与判定。",
                now(),
            ))
            .await?;
        change_state(
            store,
            id,
            &host,
            SessionState::Scheduled,
            SessionState::Live,
        )
        .await?;
        for (device, _) in &devices {
            store.attach_device(device.device.id, id, expert.id).await?;
        }
        report.sessions_created += 1;
    }

    // 3. An open help request from another county lab.
    let gangu = user(store, "gangu.tech").await?.user;
    let gangu_path = store.get_institution(gangu.institution_id).await?.path;
    let open = store
        .list_help(&gangu_path, Some(gangu.institution_id), None, 500)
        .await?;
    if !open.iter().any(|h| h.request.topic == HELP_TOPIC) {
        store
            .insert_help(&crate::store::rooms::NewHelp {
                institution_id: gangu.institution_id,
                requested_by: gangu.id,
                topic: HELP_TOPIC,
                instrument: "压力变送器 0–1 MPa（4–20 mA）",
                urgency: Urgency::High,
                details: "送检的压力变送器零点每天漂移约 0.3 kPa，超出最大允许误差。已检查引压管无泄漏，\
                          请专家远程指导排查与调零步骤。",
            })
            .await?;
        report.help_created = true;
    }

    // 4. A published and an open comparison round.
    report.rounds_created = crate::rounds::demo::seed(store).await?;
    Ok(report)
}

/// A state change as the host makes it: a room event through the log.
async fn change_state(
    store: &Store,
    session: Uuid,
    host: &Author,
    from: SessionState,
    to: SessionState,
) -> Result<(), SeedError> {
    let out = store
        .append_events(&[NewEvent {
            session,
            author: Some(host.clone()),
            client_id: None,
            body: EventBody::State {
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
            },
        }])
        .await?;
    match out.first() {
        Some(EventOutcome::New(_)) => Ok(()),
        other => Err(SeedError::Other(format!(
            "demo session {session} could not become {}: {other:?}",
            to.as_str()
        ))),
    }
}

/// The pressure pair's comparison in the ended session, run through the
/// same code as the expert's buttons (`crate::comparison`): set up against
/// the reference's registered certificate, three test points of 10
/// readings each (stored through the agents' ingest, so each batch has its
/// ledger leaf and its room event), finished into a `raw_record`.
async fn past_comparison(
    store: &Store,
    session: Uuid,
    host: &Author,
    pair: &[&(StoredDevice, [u8; 32])],
) -> Result<(), SeedError> {
    let device = |reference: bool| {
        pair.iter()
            .find(|(d, _)| d.device.reference.is_some() == reference)
            .ok_or_else(|| SeedError::Other("demo pressure pair incomplete".into()))
    };
    let (uut, reference) = (device(false)?, device(true)?);
    let failed = |what: &str, e: crate::error::AppError| {
        SeedError::Other(format!("demo comparison: {what}: {}", e.body().message))
    };
    let setup = ComparisonSetup {
        uut_device_id: uut.0.device.id,
        ref_device_id: reference.0.device.id,
        points: PRESSURE_POINTS.to_vec(),
        readings_per_point: 10,
        // A 0.05-class transmitter over 0–1 000 kPa: ±0.5 kPa.
        mpe: Mpe::Fiducial {
            percent: 0.05,
            span: 1000.0,
        },
        ref_expanded_uncertainty: None,
        ref_k: None,
        resolution: None,
        coverage: None,
        dof_rounding: None,
        conformity: None,
        en_rule: None,
    };
    comparison::set_up(store, store, session, host.clone(), &setup)
        .await
        .map_err(|e| failed("set up", e))?;
    let mut last = [uut.0.device.last_seq, reference.0.device.last_seq];
    for (index, nominal) in (0u32..).zip(PRESSURE_POINTS) {
        comparison::start_point(store, store, session, host.clone(), index)
            .await
            .map_err(|e| failed("start point", e))?;
        // Taken after the point started, as an agent's would be.
        let start = now();
        for (side, (device, hash)) in [uut, reference].into_iter().enumerate() {
            let readings = pressure_point_readings(
                last[side],
                device.device.reference.is_some(),
                index,
                nominal,
                start,
            );
            last[side] += readings.len() as u64;
            let stored = store
                .ingest_readings(&NewBatch {
                    device_id: device.device.id,
                    unit: "kPa",
                    source: Source::Agent { token_hash: hash },
                    readings: &readings,
                })
                .await?;
            if !matches!(stored, IngestOutcome::Stored { .. }) {
                return Err(SeedError::Other(format!(
                    "demo readings of {} not stored: {stored:?}",
                    device.device.name
                )));
            }
        }
    }
    comparison::finish(store, store, session, host.clone())
        .await
        .map_err(|e| failed("finish", e))?;
    Ok(())
}

/// The test points of the demo's pressure comparison, in kPa.
const PRESSURE_POINTS: [f64; 3] = [100.0, 200.0, 300.0];

/// Ten readings at test point `index` (`nominal` kPa), 0.1 s apart from
/// `start`: the transmitter 0.12 kPa high with 0.02 kPa noise, the
/// reference within a few pascal. Deterministic (fixed seeds per point and
/// side), numbered after the device's last reading.
fn pressure_point_readings(
    last_seq: u64,
    reference: bool,
    index: u32,
    nominal: f64,
    start: OffsetDateTime,
) -> Vec<DeviceReading> {
    let seed = if reference { 0x5eed_0002 } else { 0x5eed_0001 };
    let mut rng = Xoshiro256pp::new(seed + 16 * u64::from(index));
    let (offset, noise, resolution) = if reference {
        (0.004, 0.003, 0.001)
    } else {
        (0.12, 0.02, 0.01)
    };
    (0..10u32)
        .map(|i| {
            let raw = nominal + offset + noise * rng.normal();
            let value = (raw / resolution).round() * resolution;
            DeviceReading {
                seq: last_seq + u64::from(i) + 1,
                t: start + Duration::milliseconds(100 * i64::from(i)),
                value: (value * 1e6).round() / 1e6,
                unit: "kPa".into(),
                u_t: 0.002,
            }
        })
        .collect()
}

/// The token of an agent file, if it holds one.
fn read_token(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let v = l
            .trim()
            .strip_prefix("token")?
            .trim_start()
            .strip_prefix('=')?;
        Some(v.trim().trim_matches('"').to_owned()).filter(|t| !t.is_empty())
    })
}

/// Write (replace) the agent configuration of `d` holding `token`, readable
/// only by this user: the token opens the device's agent socket.
fn write_agent_file(file: &Path, dir: &Path, d: &DemoDevice, token: &str) -> Result<(), SeedError> {
    use std::io::Write as _;
    let queue = dir.join("queues").join(d.key);
    let queue = queue.display().to_string().replace('\\', "/");
    let instrument = match d.driver {
        Driver::Scpi(addr) => format!("scpi = \"{addr}\"\nquery = \"MEAS:VOLT:DC?\"\n"),
        Driver::Modbus(addr) => format!(
            "modbus = \"{addr}\"\nunit-id = 1\nregister = 0\ntype = \"float32\"\nfunction = 3\n"
        ),
    };
    let text = format!(
        "# {name}: jiliang-agent run --config {path} --server URL\n\
         # Written by `jiliang seed-demo --demo-lab`; the token opens this device's agent socket.\n\
         token = \"{token}\"\nqueue = \"{queue}\"\ninterval-ms = 1000\nunit = \"{unit}\"\n{instrument}",
        name = d.name,
        path = file.display(),
        unit = d.unit,
    );
    let _ = std::fs::remove_file(file);
    let mut f = crate::ledger::key::create_private_file(file)
        .map_err(|e| SeedError::Other(format!("cannot write {}: {e}", file.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| SeedError::Other(format!("cannot write {}: {e}", file.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_readings_are_deterministic_and_numbered_after_the_last() {
        let start = now();
        let a = pressure_point_readings(7, false, 0, 100.0, start);
        let b = pressure_point_readings(7, false, 0, 100.0, start);
        assert_eq!(a.len(), 10);
        assert_eq!(a.first().map(|r| r.seq), Some(8));
        assert_eq!(a.last().map(|r| r.seq), Some(17));
        assert!(a.iter().all(|r| r.t >= start));
        assert_eq!(
            a.iter().map(|r| r.value).collect::<Vec<_>>(),
            b.iter().map(|r| r.value).collect::<Vec<_>>()
        );
        assert!(a.windows(2).all(|w| w[0].t < w[1].t));
        assert!((a[0].value - 100.12).abs() < 0.1, "{}", a[0].value);
    }

    #[test]
    fn the_token_is_read_back_from_an_agent_file() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("dmm.toml");
        write_agent_file(&file, dir.path(), &DEVICES[0], "tok-123").expect("write");
        assert_eq!(read_token(&file).as_deref(), Some("tok-123"));
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(text.contains("scpi = \"127.0.0.1:5025\""), "{text}");
        // Replacing it is allowed (a new token after a revocation).
        write_agent_file(&file, dir.path(), &DEVICES[0], "tok-456").expect("rewrite");
        assert_eq!(read_token(&file).as_deref(), Some("tok-456"));
    }
}
