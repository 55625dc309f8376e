//! The demo province's comparison rounds (`jiliang seed-demo --demo-lab`):
//! one published round (10 V DC voltage, four labs, one excluded from the
//! reference value with its reason) and one open round (a pressure gauge,
//! two of three labs submitted), made through the same functions the
//! routes use — create, invite, submit, close, exclude, publish — with
//! the published round's steps dated in the past. Seeding again changes
//! nothing (rounds are found by title).

use jiliang_metrology::interlab::MethodName;
use jiliang_protocol::rooms::Author;
use jiliang_protocol::rounds::{ResultSubmit, RoundCreate, RoundOptions};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::auth::Principal;
use crate::clock::now;
use crate::demo::SeedError;
use crate::store::Store;
use crate::store::rounds::RoundScope;

pub const PUBLISHED_TITLE: &str = "10 V 直流电压实验室间比对（已发布）";
pub const OPEN_TITLE: &str = "0–6 MPa 精密压力表示值比对（进行中）";

fn err(e: crate::error::AppError) -> SeedError {
    SeedError::Other(e.to_string())
}

async fn user(store: &Store, login: &str) -> Result<(Uuid, Uuid, String), SeedError> {
    let u = store
        .find_user_by_login(login)
        .await?
        .ok_or_else(|| SeedError::Other(format!("demo account {login} missing")))?
        .user;
    Ok((u.id, u.institution_id, u.display_name))
}

/// A principal for `login`, as a request of theirs would carry.
async fn principal(store: &Store, login: &str) -> Result<Principal, SeedError> {
    let (id, inst, _) = user(store, login).await?;
    let user = store.get_user(id).await?;
    let institution = store.get_institution(inst).await?;
    let chain = store.institution_chain(&institution.path).await?;
    // The directory: the province (the third level from the root), as the
    // login does; the own path when the tree is shallower.
    let directory = chain
        .iter()
        .find(|i| {
            i.institution.level == jiliang_protocol::institutions::InstitutionLevel::Provincial
        })
        .map(|i| i.path.clone())
        .unwrap_or_else(|| institution.path.clone());
    Ok(Principal {
        user,
        institution: institution.institution,
        path: institution.path,
        directory,
        token_hash: [0; 32],
        csrf_token: String::new(),
    })
}

async fn exists(store: &Store, expert_path: &str, title: &str) -> Result<bool, SeedError> {
    Ok(store
        .list_rounds(RoundScope::Subtree(expert_path), 500)
        .await?
        .iter()
        .any(|r| r.title == title))
}

async fn submit(
    store: &Store,
    round: Uuid,
    login: &str,
    value: f64,
    big_u: f64,
    notes: &str,
    at: OffsetDateTime,
) -> Result<(), SeedError> {
    let p = principal(store, login).await?;
    let (l, _) = super::load(store, &p, round).await.map_err(err)?;
    let req = ResultSubmit {
        value,
        expanded_uncertainty: big_u,
        k: 2.0,
        method_notes: notes.to_owned(),
    };
    super::submit(store, &l, p.institution.id, &req, p.user.id, at)
        .await
        .map_err(err)
}

async fn lab_of(store: &Store, login: &str) -> Result<Uuid, SeedError> {
    Ok(user(store, login).await?.1)
}

/// Seed both rounds if missing; the number created.
pub async fn seed(store: &Store) -> Result<usize, SeedError> {
    let expert = principal(store, "expert").await?;
    let mut created = 0;
    let labs = [
        lab_of(store, "tech").await?,
        lab_of(store, "tongwei.tech").await?,
        lab_of(store, "gangu.tech").await?,
        lab_of(store, "min.tech").await?,
    ];
    let today = now();

    if !exists(store, &expert.path, PUBLISHED_TITLE).await? {
        let start = today - Duration::days(40);
        let req = RoundCreate {
            title: PUBLISHED_TITLE.into(),
            artefact: "Fluke 732C 直流电压标准（编号 DV-2026-03）".into(),
            quantity: "直流电压".into(),
            unit: "V".into(),
            protocol: "各实验室在 (23 ± 1) ℃ 下用本实验室最高标准测量传递标准 10 V 输出，测量 10 次取平均，报告扩展不确定度 U (k = 2)。".into(),
            deadline: today - Duration::days(20),
            method: MethodName::Auto,
            options: RoundOptions {
                sigma_pt: Some(0.000_05),
                ..RoundOptions::default()
            },
            blind: false,
        };
        let id = super::create(store, &req, expert.user.id, expert.institution.id, start)
            .await
            .map_err(err)?;
        store
            .invite_round_labs(id, &labs, expert.user.id, start)
            .await?
            .map_err(|_| SeedError::Other("demo round: invite refused".into()))?;
        let at = today - Duration::days(25);
        submit(
            store,
            id,
            "tech",
            10.000_031,
            0.000_020,
            "3458A 八位半数字多用表，10 次平均",
            at,
        )
        .await?;
        submit(
            store,
            id,
            "tongwei.tech",
            10.000_012,
            0.000_030,
            "34470A，10 次平均",
            at,
        )
        .await?;
        submit(
            store,
            id,
            "gangu.tech",
            10.000_210,
            0.000_025,
            "3458A，10 次平均",
            at,
        )
        .await?;
        submit(
            store,
            id,
            "min.tech",
            10.000_024,
            0.000_040,
            "2002 型数字多用表，10 次平均",
            at,
        )
        .await?;
        store
            .close_round(id, expert.user.id, today - Duration::days(19))
            .await?
            .map_err(|_| SeedError::Other("demo round: close refused".into()))?;
        store
            .set_round_exclusion(
                id,
                labs[2],
                Some("传递标准运输中受震，返回后复测漂移 0.15 mV"),
                expert.user.id,
            )
            .await?
            .map_err(|_| SeedError::Other("demo round: exclusion refused".into()))?;
        let (l, _) = super::load(store, &expert, id).await.map_err(err)?;
        let by = Author {
            id: expert.user.id,
            name: expert.user.display_name.clone(),
        };
        let published = today - Duration::days(18);
        super::publish(store, &l, &by, true, published)
            .await
            .map_err(err)?;
        // Published as the routes do it: the report gets its number.
        let src = crate::certificates::source::from_round(store, id)
            .await
            .map_err(err)?;
        crate::certificates::issue::issue(
            store,
            crate::certificates::Signer {
                id: expert.user.id,
                name: expert.user.display_name.clone(),
            },
            &src,
            None,
            published,
        )
        .await
        .map_err(err)?;
        created += 1;
    }

    if !exists(store, &expert.path, OPEN_TITLE).await? {
        let req = RoundCreate {
            title: OPEN_TITLE.into(),
            artefact: "0.05 级精密压力表（编号 PG-0617）".into(),
            quantity: "压力".into(),
            unit: "MPa".into(),
            protocol: "在 4 MPa 检定点升压测量三次取平均，报告示值及扩展不确定度 U (k = 2)。"
                .into(),
            deadline: today + Duration::days(14),
            method: MethodName::Auto,
            options: RoundOptions::default(),
            blind: true,
        };
        let start = today - Duration::days(3);
        let id = super::create(store, &req, expert.user.id, expert.institution.id, start)
            .await
            .map_err(err)?;
        store
            .invite_round_labs(id, &labs[..3], expert.user.id, start)
            .await?
            .map_err(|_| SeedError::Other("demo round: invite refused".into()))?;
        let at = today - Duration::days(1);
        submit(store, id, "tech", 4.0012, 0.0016, "活塞式压力计比较法", at).await?;
        submit(
            store,
            id,
            "tongwei.tech",
            3.9996,
            0.0020,
            "数字压力校验仪比较法",
            at,
        )
        .await?;
        created += 1;
    }
    Ok(created)
}
