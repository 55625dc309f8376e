//! The demo province: a realistic slice of the metrology system to explore
//! the product with. Seeding is idempotent: every entity is looked up by its
//! natural key first, so running it twice (or after a partial run) changes
//! nothing that exists.

use std::fmt;

use jiliang_protocol::institutions::InstitutionLevel;
use uuid::Uuid;

use crate::store::Store;
use crate::store::institutions::NewInstitution;

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
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "demo province (甘肃省): {} institutions created, {} already present",
            self.institutions_created, self.institutions_existing
        )
    }
}

pub async fn seed(store: &Store) -> Result<SeedReport, sqlx::Error> {
    let mut report = SeedReport::default();
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
        for child in node.children.iter().rev() {
            stack.push((child, Some(id)));
        }
    }
    Ok(report)
}
