//! The demo province: a realistic slice of the metrology system to explore
//! the product with. Seeding is idempotent: every entity is looked up by its
//! natural key first, so running it twice (or after a partial run) changes
//! nothing that exists.

pub mod lab;

use std::fmt;

use jiliang_protocol::accounts::Role;
use jiliang_protocol::institutions::InstitutionLevel;
use uuid::Uuid;

use crate::auth::password;
use crate::store::Store;
use crate::store::institutions::NewInstitution;
use crate::store::users::NewUser;

/// Every demo account's password. Demo data is for trying the product out;
/// never seed it into a production database.
pub const DEMO_PASSWORD: &str = "Jiliang-demo-2026";

/// (username, name, institution (Chinese name), roles, what they are for)
pub const PEOPLE: &[(&str, &str, &str, &[Role], &str)] = &[
    (
        "nim.admin",
        "钱学林",
        "中国计量科学研究院",
        &[Role::Admin],
        "national administrator",
    ),
    (
        "admin",
        "王建国",
        "甘肃省计量研究院",
        &[Role::Admin],
        "provincial administrator",
    ),
    (
        "expert",
        "李明华",
        "甘肃省计量研究院",
        &[Role::Expert],
        "provincial expert (electrical, pressure)",
    ),
    (
        "expert2",
        "马晓东",
        "甘肃省计量研究院",
        &[Role::Expert],
        "provincial expert (mass, temperature)",
    ),
    (
        "tianshui.admin",
        "孙丽",
        "天水市计量测试所",
        &[Role::Admin, Role::Expert],
        "city administrator and expert",
    ),
    (
        "dingxi.expert",
        "赵志强",
        "定西市计量测试所",
        &[Role::Expert],
        "city expert",
    ),
    (
        "tech",
        "张伟",
        "秦安县计量检定所",
        &[Role::Technician],
        "county technician (Qin'an)",
    ),
    (
        "gangu.tech",
        "刘洋",
        "甘谷县计量检定所",
        &[Role::Technician],
        "county technician (Gangu)",
    ),
    (
        "tongwei.tech",
        "陈静",
        "通渭县计量检定所",
        &[Role::Technician],
        "county technician (Tongwei)",
    ),
    (
        "min.tech",
        "杨帆",
        "岷县计量检定所",
        &[Role::Technician],
        "county technician (Min)",
    ),
    (
        "wen.tech",
        "黄磊",
        "文县计量检定所",
        &[Role::Technician],
        "county technician (Wen)",
    ),
    (
        "tanchang.tech",
        "周敏",
        "宕昌县计量检定所",
        &[Role::Technician, Role::Trainee],
        "county technician and trainee (Tanchang)",
    ),
    (
        "trainee",
        "吴晓燕",
        "秦安县计量检定所",
        &[Role::Trainee],
        "trainee (Qin'an)",
    ),
    (
        "trainee2",
        "郑浩",
        "通渭县计量检定所",
        &[Role::Trainee],
        "trainee (Tongwei)",
    ),
];

/// (level, Chinese name, English name, region code, contact, children)
struct Node {
    level: InstitutionLevel,
    zh: &'static str,
    en: &'static str,
    region: &'static str,
    contact: &'static str,
    children: &'static [Node],
}

use InstitutionLevel::{City, County, National, Provincial, Regional};

/// Gansu: a western province of long distances and small county labs, the
/// situation the network is built for. Region codes follow GB/T 2260.
static TREE: Node = Node {
    level: National,
    zh: "中国计量科学研究院",
    en: "National Institute of Metrology, China",
    region: "110000",
    contact: "北京市朝阳区北三环东路18号",
    children: &[Node {
        level: Regional,
        zh: "国家西北计量测试中心",
        en: "National Northwest Metrology and Testing Center",
        region: "610000",
        contact: "陕西省西安市",
        children: &[Node {
            level: Provincial,
            zh: "甘肃省计量研究院",
            en: "Gansu Institute of Metrology",
            region: "620000",
            contact: "甘肃省兰州市 0931-0000000",
            children: &[
                Node {
                    level: City,
                    zh: "天水市计量测试所",
                    en: "Tianshui Institute of Metrology and Testing",
                    region: "620500",
                    contact: "甘肃省天水市",
                    children: &[
                        county(
                            "秦安县计量检定所",
                            "Qin'an County Metrology Station",
                            "620522",
                        ),
                        county(
                            "甘谷县计量检定所",
                            "Gangu County Metrology Station",
                            "620523",
                        ),
                    ],
                },
                Node {
                    level: City,
                    zh: "定西市计量测试所",
                    en: "Dingxi Institute of Metrology and Testing",
                    region: "621100",
                    contact: "甘肃省定西市",
                    children: &[
                        county(
                            "通渭县计量检定所",
                            "Tongwei County Metrology Station",
                            "621121",
                        ),
                        county("岷县计量检定所", "Min County Metrology Station", "621126"),
                    ],
                },
                Node {
                    level: City,
                    zh: "陇南市计量测试所",
                    en: "Longnan Institute of Metrology and Testing",
                    region: "621200",
                    contact: "甘肃省陇南市",
                    children: &[
                        county("文县计量检定所", "Wen County Metrology Station", "621222"),
                        county(
                            "宕昌县计量检定所",
                            "Tanchang County Metrology Station",
                            "621223",
                        ),
                    ],
                },
            ],
        }],
    }],
};

const fn county(zh: &'static str, en: &'static str, region: &'static str) -> Node {
    Node {
        level: County,
        zh,
        en,
        region,
        contact: "",
        children: &[],
    }
}

#[derive(Debug, Default)]
pub struct SeedReport {
    pub institutions_created: usize,
    pub institutions_existing: usize,
    pub people_created: usize,
    pub people_existing: usize,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "demo province (甘肃省): {} institutions created, {} already present; {} people created, {} already present",
            self.institutions_created,
            self.institutions_existing,
            self.people_created,
            self.people_existing
        )?;
        writeln!(f, "demo logins (password for all: {DEMO_PASSWORD}):")?;
        f.write_str(&logins())
    }
}

/// The demo accounts, one line each.
pub fn logins() -> String {
    let mut text = String::new();
    for (username, name, inst, roles, what) in PEOPLE {
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        text.push_str(&format!(
            "  {username:<15} {name}  {inst}  [{}]  {what}\n",
            roles.join(", ")
        ));
    }
    text
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Other(String),
}

pub async fn seed(store: &Store) -> Result<SeedReport, SeedError> {
    let mut report = SeedReport::default();
    let mut ids: std::collections::HashMap<&str, Uuid> = std::collections::HashMap::new();
    // Depth-first with an explicit stack: async recursion would need boxing.
    let mut stack: Vec<(&Node, Option<Uuid>)> = vec![(&TREE, None)];
    while let Some((node, parent)) = stack.pop() {
        let id = match store.find_institution(parent, node.zh).await? {
            Some(existing) => {
                report.institutions_existing += 1;
                existing.institution.id
            }
            None => {
                report.institutions_created += 1;
                store
                    .insert_institution(&NewInstitution {
                        parent_id: parent,
                        level: node.level,
                        name_zh: node.zh.to_owned(),
                        name_en: Some(node.en.to_owned()),
                        region_code: node.region.to_owned(),
                        contact: node.contact.to_owned(),
                    })
                    .await?
                    .institution
                    .id
            }
        };
        ids.insert(node.zh, id);
        for child in node.children.iter().rev() {
            stack.push((child, Some(id)));
        }
    }
    // One hash for every demo account: hashing is deliberately slow.
    let mut hash = None;
    for (username, name, inst, roles, _) in PEOPLE {
        if store.username_taken(username).await? {
            report.people_existing += 1;
            continue;
        }
        let institution_id = *ids
            .get(inst)
            .ok_or_else(|| SeedError::Other(format!("demo institution {inst} missing")))?;
        if hash.is_none() {
            hash = Some(
                password::hash(DEMO_PASSWORD.to_owned())
                    .await
                    .map_err(|e| SeedError::Other(e.to_string()))?,
            );
        }
        store
            .insert_user(&NewUser {
                username: (*username).to_owned(),
                display_name: (*name).to_owned(),
                email: Some(format!("{username}@demo.jiliang.cn")),
                phone: None,
                institution_id,
                roles: roles.to_vec(),
                password_hash: hash.clone(),
            })
            .await?;
        report.people_created += 1;
    }
    Ok(report)
}
